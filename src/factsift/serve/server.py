"""Run the API: bind the port first, then load the model once, then serve until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from factsift.model import Classifier
from factsift.serve.app import MAX_BODY_BYTES, MAX_TEXTS, create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (0: any free port); OSError naming the address when it is taken.

    Connections that come before the server runs wait in the backlog instead of being refused.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, except that after the graceful stop on a signal it returns, instead of raising
    the signal again (which would end the process with a KeyboardInterrupt or a SIGTERM death)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(
    model: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    threads: int | None = None,
    device: str = "auto",
    backend: str = "auto",
    batch_size: int = 32,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_texts: int = MAX_TEXTS,
    cors_origins: list[str] | None = None,
) -> None:
    """Serve ``model`` (default: the shipped one) over HTTP until SIGINT or SIGTERM.

    The port is bound before the model loads, so a taken port fails at once. On a signal the server
    stops accepting, finishes the requests in flight, stops the labelling worker and returns.
    """
    sock = bind(host, port)
    with sock:
        classifier = Classifier.from_pretrained(model, device=device, backend=backend, threads=threads)
        app = create_app(classifier, max_body_bytes=max_body_bytes, max_texts=max_texts,
                         batch_size=batch_size, cors_origins=cors_origins)
        config = uvicorn.Config(app, log_level="info", access_log=False, timeout_graceful_shutdown=30)
        bound_host, bound_port = sock.getsockname()[:2]
        shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
        print(f"factsift: serving {classifier.source} on http://{shown_host}:{bound_port}/ (Ctrl-C to stop)",
              file=sys.stderr, flush=True)
        _Server(config).run(sockets=[sock])
    print("factsift: server stopped", file=sys.stderr, flush=True)
