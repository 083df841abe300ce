"""Atomic file writes: a reader never sees a half-written output."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

try:
    import fcntl
except ImportError:  # Windows: no advisory locks
    fcntl = None


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", overwrite: bool = True) -> Iterator[IO]:
    """Write to a temp file beside ``path`` and rename it into place only if the block succeeds."""
    target = Path(path)
    if not overwrite and target.exists():
        raise FileExistsError(f"{target} already exists; pass overwrite to replace it")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.chmod(temp_name, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get normal permissions
    kwargs = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
    try:
        with os.fdopen(handle, mode, **kwargs) as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", overwrite=overwrite) as stream:
        stream.write(text)
    return Path(path)


def lock_exclusively(stream: IO, path: str | Path) -> None:
    """Take an exclusive lock on the open file ``stream`` for this process's lifetime, or fail at once
    when another process holds it (POSIX advisory lock; nothing is locked on Windows)."""
    if fcntl is None:
        return
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise BlockingIOError(
            f"{path} is being written by another factsift run; let it finish or stop it first"
        ) from None
