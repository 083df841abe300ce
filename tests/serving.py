"""Helpers for the server tests: a real uvicorn server on a free port, and plain HTTP calls."""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from factsift.serve.server import bind


@contextmanager
def running_server(app) -> Iterator[tuple[str, int]]:
    """Serve ``app`` on a free localhost port in a background thread; yields (host, port)."""
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    try:
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def request(
    address: tuple[str, int], method: str, path: str, body: bytes | None = None, headers: dict | None = None
) -> tuple[int, dict, bytes]:
    """(status, headers with lower-case names, body) of one HTTP request."""
    connection = http.client.HTTPConnection(*address, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def post_json(address: tuple[str, int], payload: object) -> tuple[int, dict]:
    """(status, decoded JSON body) of ``POST /v1/label`` with ``payload``."""
    status, _, body = request(address, "POST", "/v1/label", json.dumps(payload).encode("utf-8"),
                              {"Content-Type": "application/json"})
    return status, json.loads(body)
