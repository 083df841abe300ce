"""File helpers: atomic writes (a reader never sees a half-written output), locks, and reading UTF-8
text and JSON Lines with errors that name file, line and column."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

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


def give_default_permissions(directory: str | Path) -> None:
    """Give each file in ``directory`` the mode a plain new file gets (0666 less the umask), as
    ``atomic_open`` does: some writers (safetensors) leave 0600, which other users cannot read."""
    mode = 0o666 & ~_current_umask()
    for path in Path(directory).iterdir():
        if path.is_file() and not path.is_symlink():
            os.chmod(path, mode)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str, overwrite: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w", overwrite=overwrite) as stream:
        stream.write(text)
    return Path(path)


def replace_dir(staging: Path, output: Path) -> None:
    """Move the finished ``staging`` directory to ``output``, replacing what is there."""
    if not output.exists():
        os.replace(staging, output)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".old", dir=output.parent))
    os.replace(output, old / "previous")
    try:
        os.replace(staging, output)
    except BaseException:
        os.replace(old / "previous", output)
        raise
    shutil.rmtree(old, ignore_errors=True)


def tsv_quoting(text: str) -> int:
    """``csv.QUOTE_MINIMAL`` when the TSV ``text`` was written with standard quoting (``csv.writer``,
    ``pandas.to_csv(sep="\\t")``), else ``csv.QUOTE_NONE`` (quote marks are text).

    The file counts as quoted when it parses strictly with quoting, parses differently without it,
    and writing its rows back with ``csv.writer`` (minimal or all-field quoting) gives the file
    again: a sentence that merely starts with a quote mark, like ``"Go," he said``, is read verbatim.
    """
    def rows(quoting: int) -> list[list[str]]:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter="\t", quoting=quoting, strict=True))

    try:
        quoted = rows(csv.QUOTE_MINIMAL)
    except csv.Error:
        return csv.QUOTE_NONE
    if quoted == rows(csv.QUOTE_NONE):
        return csv.QUOTE_NONE
    canonical = text.replace("\r\n", "\n").rstrip("\n")
    for quoting in (csv.QUOTE_MINIMAL, csv.QUOTE_ALL):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter="\t", quoting=quoting, lineterminator="\n").writerows(quoted)
        if buffer.getvalue().rstrip("\n") == canonical:
            return csv.QUOTE_MINIMAL
    return csv.QUOTE_NONE


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


def decode_utf8(
    raw: bytes, name: str, first_line: int = 1, offset: int = 0, bom: bool = True, error: type[ValueError] = ValueError
) -> str:
    """``raw`` (from line ``first_line``, byte ``offset`` of the file ``name``) as UTF-8 text, a leading
    byte-order mark dropped when ``bom``. Invalid bytes raise ``error`` naming file, line, column and byte."""
    try:
        return raw.decode("utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError as bad:
        at = bad.start
        line = first_line + raw.count(b"\n", 0, at)
        column = at - raw.rfind(b"\n", 0, at)
        raise error(
            f"{name}:{line}:{column}: invalid UTF-8 (byte 0x{raw[at]:02x} at byte offset {offset + at}); "
            "save the file as UTF-8"
        ) from None


def json_object_lines(
    lines: Iterable[tuple[int, str]], name: str, error: type[ValueError] = ValueError
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSON Lines file ``name``; a line that is not
    a JSON object raises ``error`` naming file, line and column."""
    for number, line in lines:
        if not line.strip():
            continue
        try:
            record = json.loads(line.rstrip("\r\n"))  # so a column at the line end is on this line
        except json.JSONDecodeError as bad:
            raise error(f"{name}:{number}:{bad.colno}: invalid JSON: {bad.msg}") from None
        if not isinstance(record, dict):
            raise error(f"{name}:{number}: expected a JSON object, got {type(record).__name__}")
        yield number, record
