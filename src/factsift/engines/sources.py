"""The documents of an archive: JSONL, CSV and parquet files, folders of them and glob patterns.

Each record is checked as it is read. A bad record raises a ValueError naming its file and line
(the row number in a parquet file), or, when skipped, is handed to ``on_skip`` with that message.
"""

from __future__ import annotations

import csv
import glob
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from factsift.documents import Document, record_document
from factsift.fileio import decode_utf8, json_object_lines

SUFFIXES = (".jsonl", ".csv", ".parquet")
PARQUET_ROWS_PER_READ = 1024


def archive_files(paths: Iterable[str]) -> list[Path]:
    """The record files ``paths`` name (files, folders searched recursively, glob patterns), sorted
    within each folder or pattern, in argument order."""
    files: list[Path] = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            found = sorted(file for file in path.rglob("*") if file.is_file() and file.suffix.lower() in SUFFIXES)
        elif glob.has_magic(name):
            found = sorted(Path(match) for match in glob.glob(name, recursive=True) if Path(match).is_file())
        elif path.is_file():
            found = [path]
        else:
            raise FileNotFoundError(f"{name}: no such file or folder")
        if not found:
            raise FileNotFoundError(f"{name}: no {', '.join(SUFFIXES)} files here")
        for file in found:
            if file.suffix.lower() not in SUFFIXES:
                raise ValueError(f"{file}: not a {', '.join(SUFFIXES)} file")
        files += found
    return files


def read_archive(
    files: Iterable[Path],
    text_field: str = "text",
    id_field: str = "id",
    on_skip: Callable[[str, str], None] | None = None,
) -> Iterator[Document]:
    """Each file's documents in order; ids default to ``file:line``. With ``on_skip``, a bad record
    is passed to it as (``file:line``, message) instead of stopping the run."""
    seen: dict[str, str] = {}
    for file in files:
        for where, record in _records(file, on_skip):
            try:
                document = record_document(record, text_field, id_field, where, where, max_chars=None)
                if document.id in seen:
                    raise ValueError(f"{where}: document id {document.id!r} is used before, by {seen[document.id]}")
            except ValueError as error:
                _reject(where, str(error), on_skip)
                continue
            seen[document.id] = where
            yield document


def _records(file: Path, on_skip: Callable[[str, str], None] | None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    suffix = file.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_records(file)
        return
    lines = _lines(file, on_skip)
    yield from _csv_records(lines, str(file), on_skip) if suffix == ".csv" else _json_records(lines, str(file), on_skip)


def _lines(file: Path, on_skip: Callable[[str, str], None] | None) -> Iterator[tuple[int, str]]:
    with file.open("rb") as stream:
        for number, raw in enumerate(stream, start=1):
            try:
                yield number, decode_utf8(raw, str(file), first_line=number, bom=number == 1)
            except ValueError as error:
                _reject(f"{file}:{number}", str(error), on_skip)


def _json_records(lines, name: str, on_skip) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for number, line in lines:
        try:
            for _, record in json_object_lines([(number, line)], name):
                yield f"{name}:{number}", record
        except ValueError as error:
            _reject(f"{name}:{number}", str(error), on_skip)


def _csv_records(lines, name: str, on_skip) -> Iterator[tuple[str, Mapping[str, Any]]]:
    last_line = 0

    def texts() -> Iterator[str]:
        nonlocal last_line
        for last_line, line in lines:
            yield line

    reader = csv.reader(texts(), strict=True)
    header = next(reader, None)
    while header is not None:
        where = f"{name}:{last_line + 1}"  # a quoted field may run over several lines: name the first
        try:
            row = next(reader, None)
        except csv.Error as error:
            _reject(where, f"{where}: malformed CSV: {error}", on_skip)
            continue
        if row is None:
            return
        if len(row) > len(header):
            _reject(where, f"{where}: {len(row)} fields, more than the header's {len(header)}", on_skip)
        elif row:
            yield where, dict(zip(header, row))


def _reject(where: str, message: str, on_skip: Callable[[str, str], None] | None) -> None:
    """Stop on the bad record at ``where`` (``file:line``), or hand it to ``on_skip``."""
    if on_skip is None:
        raise ValueError(message)
    on_skip(where, message)


def _parquet_records(file: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(file).iter_batches(batch_size=PARQUET_ROWS_PER_READ):
        for record in batch.to_pylist():
            number += 1
            yield f"{file}:{number}", record
