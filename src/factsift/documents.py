"""Read the documents to label: text files, folders of them, stdin, JSONL and CSV records.

Every problem is reported as a ValueError (or FileNotFoundError) naming the file, the line and
the field or byte at fault. Records are streamed: a large JSONL or CSV file is never held in
memory whole, and a text file is read only up to the size ``max_chars`` allows.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from factsift.fileio import decode_utf8, json_object_lines
from factsift.inputs import DEFAULT_MAX_CHARS, check_text

STDIN = "-"
STDIN_ID = "<stdin>"
# The control characters inputs.check_text rejects, as bytes: none of them occurs inside a
# multi-byte UTF-8 sequence, so raw bytes can be screened before decoding.
_BINARY_BYTE = re.compile(rb"[\x00-\x08\x0e-\x1f]")
_UTF8_BOM = b"\xef\xbb\xbf"
_NEWLINE = b"\n"


@dataclass(frozen=True)
class Document:
    """One text to label: ``id`` names it in the output, ``source`` says where it was read."""

    id: str
    text: str
    source: str


def iter_documents(
    paths: Iterable[str | Path],
    text_field: str = "text",
    id_field: str = "id",
    glob: str = "*.txt",
    max_chars: int | None = DEFAULT_MAX_CHARS,
) -> Iterator[Document]:
    """Documents from ``paths`` in order: files, folders (``glob``, recursive, sorted), ``-`` (stdin).

    ``.jsonl`` and ``.csv`` files hold one document per record (text in ``text_field``, id in
    ``id_field`` or else ``file:line``); any other file is one plain-text document whose id is
    the path as given, or relative to the folder it was found in. Missing paths and folders
    without matching files raise here, before any document is read; bad content raises when
    the iterator reaches it. Two documents with the same id are an error naming both sources.
    """
    sources = [source for path in paths for source in _expand(path, glob)]
    return _unique(_read(file, doc_id, shown, text_field, id_field, max_chars) for file, doc_id, shown in sources)


def _expand(path: str | Path, glob: str) -> list[tuple[Path | None, str, str]]:
    """(file, document id, path shown in messages) for one path argument; file None is stdin."""
    name = str(path)
    if name == STDIN:
        return [(None, STDIN_ID, STDIN_ID)]
    folder = Path(path)
    if folder.is_dir():
        files = sorted(file for file in folder.rglob(glob) if file.is_file())
        if not files:
            raise FileNotFoundError(f"{name}: no files matching {glob!r} in this folder (see --glob)")
        return [(file, file.relative_to(folder).as_posix(), str(file)) for file in files]
    if not folder.exists():
        raise FileNotFoundError(f"{name}: no such file or folder")
    return [(folder, name, name)]


def _read(
    file: Path | None, doc_id: str, shown: str, text_field: str, id_field: str, max_chars: int | None
) -> Iterator[Document]:
    suffix = file.suffix.lower() if file else ""
    if suffix in (".jsonl", ".csv"):
        with file.open("rb") as stream:
            reader = json_object_lines if suffix == ".jsonl" else _csv_records
            for line, record in reader(_decoded_lines(stream, shown), shown):
                yield record_document(record, text_field, id_field, f"{doc_id}:{line}", f"{shown}:{line}", max_chars)
    elif file is None:
        yield Document(doc_id, _read_text(sys.stdin.buffer, shown, max_chars), shown)
    else:
        with file.open("rb") as stream:
            yield Document(doc_id, _read_text(stream, shown, max_chars), shown)


def _unique(groups: Iterable[Iterator[Document]]) -> Iterator[Document]:
    seen: dict[str, str] = {}
    for group in groups:
        for document in group:
            if document.id in seen:
                raise ValueError(
                    f"document id {document.id!r} is used twice: by {seen[document.id]} and by "
                    f"{document.source}; ids must be unique (see --id-field)"
                )
            seen[document.id] = document.source
            yield document


# ---- bytes to text ----------------------------------------------------------------------------
def _read_text(stream: BinaryIO, name: str, max_chars: int | None) -> str:
    """A whole text file, checked; no more than ``max_chars`` can need is read."""
    limit = None if max_chars is None else 4 * max_chars + len(_UTF8_BOM) + 1  # UTF-8: <= 4 bytes a char
    raw = stream.read() if limit is None else stream.read(limit)
    if limit is not None and len(raw) == limit:
        raise ValueError(
            f"{name}: text is over the limit of {max_chars:,} characters; "
            "split it into documents or raise the limit with --max-chars"
        )
    return check_text(_decode(raw, name, line=1, offset=0, first=True), name, max_chars)


def _decoded_lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a binary stream, keeping the line ends."""
    offset = 0
    for number, raw in enumerate(stream, start=1):
        yield number, _decode(raw, name, line=number, offset=offset, first=number == 1)
        offset += len(raw)


def _decode(raw: bytes, name: str, line: int, offset: int, first: bool) -> str:
    """UTF-8 text of ``raw`` (``line`` of ``name``, starting at byte ``offset`` of the file)."""
    binary = _BINARY_BYTE.search(raw)
    if binary:
        at = binary.start()
        raise ValueError(
            f"{name}: looks binary, not text: byte 0x{raw[at]:02x} on line {line + raw.count(_NEWLINE, 0, at)} "
            f"(byte offset {offset + at})"
        )
    return decode_utf8(raw, name, first_line=line, offset=offset, bom=first)


# ---- records ----------------------------------------------------------------------------------
def record_document(
    record: Mapping[str, Any], text_field: str, id_field: str, fallback_id: str, where: str,
    max_chars: int | None = DEFAULT_MAX_CHARS,
) -> Document:
    """The document one JSONL/CSV/parquet record holds; ``where`` (``file:line``) names it in errors,
    ``fallback_id`` is its id when the record has no ``id_field``."""
    text = check_text(_text_field(record, text_field, where), f"{where}: field {text_field!r}", max_chars)
    return Document(_record_id(record, id_field, fallback_id, where), text, where)


def _csv_records(lines: Iterator[tuple[int, str]], name: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    # One physical line per item, so reader.line_num is the number of the last line read.
    reader = csv.reader((line for _, line in lines), strict=True)
    try:
        header = next(reader, None)
        while header is not None:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                break
            if len(row) > len(header):
                raise ValueError(f"{name}:{start}: {len(row)} fields, more than the header's {len(header)}")
            if row:
                yield start, dict(zip(header, row))
    except csv.Error as error:
        raise ValueError(f"{name}:{reader.line_num}: malformed CSV: {error}") from None


def _text_field(record: Mapping[str, Any], field: str, where: str) -> str:
    if field not in record or record[field] is None:
        present = ", ".join(repr(key) for key in record if record[key] is not None) or "none"
        raise ValueError(f"{where}: no text field {field!r} (fields present: {present}; see --text-field)")
    value = record[field]
    if not isinstance(value, str):
        raise ValueError(
            f"{where}: field {field!r} holds {type(value).__name__} {_short(value)}, expected a string"
        )
    return value


def _record_id(record: Mapping[str, Any], field: str, fallback: str, where: str) -> str:
    """The record's id field as a string, or ``fallback`` (``file:line``) when it has none."""
    value = record.get(field)
    if value is None or value == "":
        return fallback
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ValueError(
            f"{where}: id field {field!r} holds {type(value).__name__} {_short(value)}, "
            "expected a string or an integer"
        )
    return str(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
