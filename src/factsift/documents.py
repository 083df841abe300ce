"""Read the documents to label: text files, folders of them, stdin, and records (JSONL, JSON, CSV, TSV).

Every problem is reported as a ValueError (or FileNotFoundError) naming the file, the line and
the field or byte at fault. JSONL and CSV records are streamed, so a large file is never held in
memory whole; a TSV file (to tell whether it uses standard quoting, see ``fileio.tsv_quoting``)
and a ``.json`` array are read whole. A text file is read only up to the size ``max_chars`` allows.

A plain-text document is the file decoded as UTF-8 with a leading byte-order mark kept, so
offsets index ``open(path, encoding="utf-8").read()`` (with ``encoding="utf-8-sig"`` they are one
higher than the BOM-less text's); no sentence includes the mark.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from factsift.fileio import decode_utf8, json_object_lines, tsv_quoting
from factsift.inputs import DEFAULT_MAX_CHARS, check_text

STDIN = "-"
STDIN_ID = "<stdin>"
RECORD_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv")
DEFAULT_TEXT_FIELD = "text"
DEFAULT_ID_FIELD = "id"
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
    text_field: str | None = None,
    id_field: str | None = None,
    glob: str = "*.txt",
    max_chars: int | None = DEFAULT_MAX_CHARS,
    allow_markup: bool = False,
) -> Iterator[Document]:
    """Documents from ``paths`` in order: files, folders (``glob``, recursive, sorted), ``-`` (stdin).

    ``.jsonl``, ``.json`` (JSON Lines or one array of objects), ``.csv`` and ``.tsv`` files hold one
    document per record: text in ``text_field`` (default ``text``), id in ``id_field`` (default
    ``id``) or else ``file:line`` (``file:item`` in a JSON array). Any other file is one plain-text
    document whose id is the path as given, or relative to the folder it was found in; naming a
    ``text_field`` or ``id_field`` when such a file is among the inputs is an error. Missing paths,
    folders without matching files and such field names raise here, before any document is read;
    bad content raises when the iterator reaches it. Two documents with the same id are an error
    naming both sources. ``allow_markup`` lets HTML documents through.
    """
    sources = input_sources(paths, glob)
    for field, option in ((text_field, "--text-field"), (id_field, "--id-field")):
        plain = next((shown for file, _, shown in sources if not _is_records(file)), None)
        if field is not None and plain is not None:
            raise ValueError(
                f"{plain}: plain text has no fields, so {option} {field!r} cannot apply; it is for "
                f"{', '.join(RECORD_SUFFIXES)} inputs"
            )
    text_field, id_field = text_field or DEFAULT_TEXT_FIELD, id_field or DEFAULT_ID_FIELD
    return _unique(
        _read(file, doc_id, shown, text_field, id_field, max_chars, allow_markup) for file, doc_id, shown in sources
    )


def input_sources(paths: Iterable[str | Path], glob: str = "*.txt") -> list[tuple[Path | None, str, str]]:
    """(file, document id or id prefix, name shown in messages) for each input file, folders
    expanded; file None is stdin. Raises FileNotFoundError for a missing path or an empty folder."""
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(
            f"paths must be a list of paths, got a single {type(paths).__name__} {paths!r}; wrap it in a list"
        )
    return [source for path in paths for source in _expand(path, glob)]


def input_fingerprint(paths: Iterable[str | Path], glob: str = "*.txt") -> list[list]:
    """[resolved path, size, mtime in ns] of each input file (``<stdin>`` for stdin): what a resumed
    run must find unchanged."""
    fingerprint = []
    for file, _, shown in input_sources(paths, glob):
        if file is None:
            fingerprint.append([shown])
        else:
            stat = file.stat()
            fingerprint.append([str(file.resolve()), stat.st_size, stat.st_mtime_ns])
    return fingerprint


def _is_records(file: Path | None) -> bool:
    return file is not None and file.suffix.lower() in RECORD_SUFFIXES


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
    file: Path | None, doc_id: str, shown: str, text_field: str, id_field: str, max_chars: int | None,
    allow_markup: bool,
) -> Iterator[Document]:
    if _is_records(file):
        with file.open("rb") as stream:
            for key, where, record in _records(stream, file.suffix.lower(), shown):
                yield record_document(record, text_field, id_field, f"{doc_id}:{key}", where, max_chars, allow_markup)
    elif file is None:
        yield Document(doc_id, _read_text(sys.stdin.buffer, shown, max_chars, allow_markup), shown)
    else:
        with file.open("rb") as stream:
            yield Document(doc_id, _read_text(stream, shown, max_chars, allow_markup), shown)


def _records(stream: BinaryIO, suffix: str, name: str) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(line or item number, where, record) for each record of a JSONL, JSON, CSV or TSV file."""
    if suffix == ".jsonl":
        records = json_object_lines(_decoded_lines(stream, name), name)
    elif suffix == ".csv":
        records = _csv_records(_decoded_lines(stream, name), name)
    else:  # .json and .tsv are read whole
        text = "".join(line for _, line in _decoded_lines(stream, name))
        if suffix == ".json" and text.lstrip().startswith("["):
            yield from _json_array_records(text, name)
            return
        lines = enumerate(io.StringIO(text, newline=""), start=1)
        if suffix == ".json":
            records = json_object_lines(lines, name)
        else:
            records = _csv_records(lines, name, delimiter="\t", quoting=tsv_quoting(text))
    for line, record in records:
        yield line, f"{name}:{line}", record


def _json_array_records(text: str, name: str) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as bad:
        raise ValueError(f"{name}:{bad.lineno}:{bad.colno}: invalid JSON: {bad.msg}") from None
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"{name}: item {number}: expected a JSON object, got {type(item).__name__}")
        yield number, f"{name}: item {number}", item


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
def _read_text(stream: BinaryIO, name: str, max_chars: int | None, allow_markup: bool) -> str:
    """A whole text file (a leading BOM kept), checked; no more than ``max_chars`` can need is read."""
    limit = None if max_chars is None else 4 * max_chars + len(_UTF8_BOM) + 1  # UTF-8: <= 4 bytes a char
    raw = stream.read() if limit is None else stream.read(limit)
    if limit is not None and len(raw) == limit:
        raise ValueError(
            f"{name}: text is over the limit of {max_chars:,} characters; "
            "split it into documents or raise the limit with --max-chars"
        )
    return check_text(_decode(raw, name, line=1, offset=0, bom=False), name, max_chars, allow_markup)


def _decoded_lines(stream: BinaryIO, name: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line of a binary stream, keeping the line ends."""
    offset = 0
    for number, raw in enumerate(stream, start=1):
        yield number, _decode(raw, name, line=number, offset=offset, bom=number == 1)
        offset += len(raw)


def _decode(raw: bytes, name: str, line: int, offset: int, bom: bool) -> str:
    """UTF-8 text of ``raw`` (``line`` of ``name``, starting at byte ``offset`` of the file), a
    leading byte-order mark dropped when ``bom``."""
    binary = _BINARY_BYTE.search(raw)
    if binary:
        at = binary.start()
        raise ValueError(
            f"{name}: looks binary, not text: byte 0x{raw[at]:02x} on line {line + raw.count(_NEWLINE, 0, at)} "
            f"(byte offset {offset + at})"
        )
    return decode_utf8(raw, name, first_line=line, offset=offset, bom=bom)


# ---- records ----------------------------------------------------------------------------------
def record_document(
    record: Mapping[str, Any], text_field: str, id_field: str, fallback_id: str, where: str,
    max_chars: int | None = DEFAULT_MAX_CHARS, allow_markup: bool = False,
) -> Document:
    """The document one JSONL/CSV/parquet record holds; ``where`` (``file:line``) names it in errors,
    ``fallback_id`` is its id when the record has no ``id_field``."""
    text = check_text(_text_field(record, text_field, where), f"{where}: field {text_field!r}", max_chars, allow_markup)
    return Document(_record_id(record, id_field, fallback_id, where), text, where)


def _csv_records(
    lines: Iterable[tuple[int, str]], name: str, delimiter: str = ",", quoting: int = csv.QUOTE_MINIMAL
) -> Iterator[tuple[int, Mapping[str, Any]]]:
    # One physical line per item, so reader.line_num is the number of the last line read.
    reader = csv.reader(
        (line for _, line in lines), delimiter=delimiter, quoting=quoting, strict=quoting != csv.QUOTE_NONE
    )
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
        kind = "TSV" if delimiter == "\t" else "CSV"
        raise ValueError(f"{name}:{reader.line_num}: malformed {kind}: {error}") from None


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
