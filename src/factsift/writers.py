"""Write labelled documents: JSONL or CSV with one row per sentence, or one HTML page.

A JSONL or CSV output file is built in ``OUTPUT.partial``: each finished document is appended in
one write and fsync'ed, and the file is renamed to ``OUTPUT`` when every document is done. A
rerun finds the ``.partial`` file, keeps the documents it holds and labels the rest. Only the
tail of the file can be damaged by a crash, so on resume a cut-off last line is dropped and the
last document is written again (it may have been cut between two lines). A run holds a lock on the
``.partial`` file, so a second run on the same output stops instead of mixing records into it.

``OUTPUT.partial.run`` records what the run was (inputs and settings, given by the caller as
``run``): a rerun with another ``run`` is refused, or starts over with ``overwrite``; a rerun with
the same ``run`` resumes, with or without ``overwrite``.

Only a regular file is ever replaced. A symlink is written through (the ``.partial`` and temp files
go beside its target); FIFOs, devices, sockets and anything under ``/dev`` or ``/proc`` (such as
``/dev/stdout``) are streams: written in place, without ``.partial``, rename or resume, and
without needing ``overwrite``. Nothing is written to a stream before the first document is ready,
so a run that fails on its first document leaves no half page or lone CSV header.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import stat
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO, TextIO

from factsift.documents import Document
from factsift.fileio import atomic_open, atomic_write_text, lock_exclusively
from factsift.results import LabeledSentence

FORMATS = ("jsonl", "csv", "html")
PARTIAL_SUFFIX = ".partial"
RUN_SUFFIX = ".run"
STREAM_FOLDERS = ("dev", "proc")
SCORE_DIGITS = 6
COLUMNS = ["doc_id", "sentence_index", "paragraph", "start", "end", "text", "label", "score"]


def sentence_records(doc_id: str, sentences: Sequence[LabeledSentence]) -> list[dict]:
    """One plain-JSON dict per sentence, offsets into the document's text, scores rounded."""
    return [
        {
            "doc_id": doc_id, "sentence_index": index, "paragraph": sentence.paragraph,
            "start": sentence.start, "end": sentence.end, "text": sentence.text, "label": sentence.label,
            "score": round(sentence.score, SCORE_DIGITS),
            "scores": {label: round(score, SCORE_DIGITS) for label, score in sentence.scores.items()},
        }
        for index, sentence in enumerate(sentences)
    ]


def sentence_rows(doc_id: str, sentences: Sequence[LabeledSentence], labels: Sequence[str]) -> list[dict]:
    """Flat rows: the ``sentence_records`` columns with a ``score_<label>`` column per label."""
    rows = []
    for record in sentence_records(doc_id, sentences):
        scores = record.pop("scores")
        rows.append({**record, **{f"score_{label}": scores[label] for label in labels}})
    return rows


def row_columns(labels: Sequence[str]) -> list[str]:
    """The columns of ``sentence_rows`` (and of CSV output) for a model with ``labels``."""
    return COLUMNS + [f"score_{label}" for label in labels]


def partial_path(output: Path) -> Path:
    """Where an unfinished JSONL/CSV output is kept: ``OUTPUT.partial`` (beside a symlink's target)."""
    target = _file_target(output)
    return target.with_name(target.name + PARTIAL_SUFFIX)


def is_stream(output: Path) -> bool:
    """Whether ``output`` is written as a stream: a FIFO, device or socket, or a path under /dev or /proc."""
    parts = Path(os.path.abspath(output)).parts
    if len(parts) > 1 and parts[1] in STREAM_FOLDERS:
        return True
    try:
        mode = output.stat().st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def check_target(output: Path, overwrite: bool, inputs: Sequence[Path | None] = ()) -> None:
    """Refuse to replace an existing output unless ``overwrite``, or one of the ``inputs`` ever; a
    folder is never an output, a stream (``is_stream``) is always written."""
    if is_stream(output):
        return
    target = _file_target(output)
    if target.is_dir():
        raise IsADirectoryError(f"{output} is a folder; the output must be a file path")
    for source in inputs:
        if source is not None and (
            source.resolve() == target.resolve() or target.exists() and os.path.samefile(source, target)
        ):
            raise ValueError(f"{output} is also an input of this run; write the output to another file")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{output} exists; pass --overwrite to replace it")


def _file_target(output: Path) -> Path:
    """The file that writing ``output`` replaces: a symlink's final target, else ``output``."""
    return output.resolve() if output.is_symlink() else output


class Writer:
    """Receives each labelled document in turn; ``done`` holds ids an earlier run already wrote."""

    done: frozenset[str] = frozenset()

    def write(self, document: Document, sentences: Sequence[LabeledSentence]) -> None:
        raise NotImplementedError


@contextmanager
def open_writer(
    fmt: str, labels: Sequence[str], output: Path | None = None, overwrite: bool = False, run: dict | None = None
) -> Iterator[Writer]:
    """A writer for ``fmt`` to ``output`` (stdout when None), finished when the block succeeds.

    JSONL/CSV files resume from ``OUTPUT.partial`` when it was started with the same ``run`` (a
    JSON-able description of the inputs and settings; None resumes any partial file); HTML is
    written to a temp file and renamed. When the block fails, no ``output`` appears: a
    ``.partial`` file stays only if it holds a document. A stream output (stdout, ``is_stream``)
    is written as it goes.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if output is not None:
        check_target(output, overwrite)
    if output is None or is_stream(output):
        target = nullcontext(sys.stdout) if output is None else output.open("w", encoding="utf-8", newline="")
        with target as stream:
            writer: _HtmlWriter | _StreamWriter = (
                _HtmlWriter(stream, labels) if fmt == "html" else _StreamWriter(stream, _record_format(fmt, labels))
            )
            yield writer
            writer.finish()
        return
    output = _file_target(output)
    if fmt == "html":
        with atomic_open(output, overwrite=overwrite) as stream:
            page = _HtmlWriter(stream, labels)
            yield page
            page.finish()
        return
    partial = _PartialFileWriter(output, _record_format(fmt, labels), run, overwrite)
    try:
        yield partial
    except BaseException:
        partial.abandon()
        raise
    partial.commit()


# ---- JSONL and CSV ----------------------------------------------------------------------------
def _record_format(fmt: str, labels: Sequence[str]) -> _JsonlFormat | _CsvFormat:
    return _JsonlFormat(labels) if fmt == "jsonl" else _CsvFormat(labels)


class _JsonlFormat:
    """One JSON object per line."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)

    def header(self) -> str:
        return ""

    def encode(self, doc_id: str, sentences: Sequence[LabeledSentence]) -> str:
        return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in sentence_records(doc_id, sentences))

    def scan(self, stream: BinaryIO, name: str) -> Iterator[tuple[str, int]]:
        """(doc_id, byte offset of the record) for each complete line; stops at a cut-off last line."""
        offset = 0
        for number, line in enumerate(stream, start=1):
            if not line.endswith(b"\n"):
                return
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not (
                isinstance(record, dict) and isinstance(record.get("doc_id"), str)
                and isinstance(record.get("scores"), dict) and list(record["scores"]) == self.labels
            ):
                raise ValueError(
                    f"{name}:{number}: not a factsift record with this model's labels ({', '.join(self.labels)}); "
                    f"delete {name} to start over"
                )
            yield record["doc_id"], offset
            offset += len(line)


class _CsvFormat:
    """A header, then one row per sentence with a ``score_<label>`` column per label."""

    def __init__(self, labels: Sequence[str]):
        self.labels = list(labels)
        self.columns = row_columns(self.labels)

    def header(self) -> str:
        return self._rows([self.columns])

    def encode(self, doc_id: str, sentences: Sequence[LabeledSentence]) -> str:
        return self._rows([list(row.values()) for row in sentence_rows(doc_id, sentences, self.labels)])

    @staticmethod
    def _rows(rows: list[list]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        return buffer.getvalue()

    def scan(self, stream: BinaryIO, name: str) -> Iterator[tuple[str, int]]:
        """(doc_id, byte offset of the row) for each complete row; stops at a cut-off tail."""
        offset, at_end = 0, False

        def complete_lines() -> Iterator[str]:
            nonlocal offset, at_end
            for line in stream:
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                yield line.decode("utf-8")
            at_end = True

        reader = csv.reader(complete_lines(), strict=True)
        try:
            header = next(reader, None)
            if header is not None and header != self.columns:
                raise ValueError(
                    f"{name}: columns {', '.join(header)} differ from this model's {', '.join(self.columns)}; "
                    f"delete {name} to start over"
                )
            start = offset
            for row in reader:
                if len(row) != len(self.columns):
                    raise ValueError(f"{name}:{reader.line_num}: {len(row)} fields, expected {len(self.columns)}")
                yield row[0], start
                start = offset
        except (csv.Error, UnicodeDecodeError) as error:
            if not at_end:  # a quoted field cut off by a crash ends the data; anything else is damage
                raise ValueError(f"{name}:{reader.line_num}: damaged ({error}); delete {name} to start over") from None


class _StreamWriter(Writer):
    """Records to an open text stream (stdout), flushed after each document; the header goes out
    with the first document (or at ``finish`` when there is none)."""

    def __init__(self, stream: TextIO, records: _JsonlFormat | _CsvFormat):
        self.stream, self.records, self.started = stream, records, False

    def write(self, document: Document, sentences: Sequence[LabeledSentence]) -> None:
        self._start()
        self.stream.write(self.records.encode(document.id, sentences))
        self.stream.flush()

    def finish(self) -> None:
        self._start()
        self.stream.flush()

    def _start(self) -> None:
        if not self.started:
            self.stream.write(self.records.header())
            self.started = True


class _PartialFileWriter(Writer):
    """Records appended to ``OUTPUT.partial`` a document at a time; renamed to ``OUTPUT`` at the end."""

    def __init__(self, output: Path, records: _JsonlFormat | _CsvFormat, run: dict | None, overwrite: bool):
        self.output, self.records, self.partial = output, records, partial_path(output)
        self.run_file = self.partial.with_name(self.partial.name + RUN_SUFFIX)
        resuming = self.partial.exists()
        output.parent.mkdir(parents=True, exist_ok=True)
        self.stream = self.partial.open("ab")
        try:
            lock_exclusively(self.stream, self.partial)  # two runs appending to one file would mix records
            if resuming and run is not None and not self._same_run(run, overwrite):
                self.stream.truncate(0)  # overwrite: start over
                resuming = False
            if not resuming and run is not None:
                atomic_write_text(self.run_file, json.dumps(run, sort_keys=True) + "\n")
            self.done = frozenset(self._resume()) if resuming else frozenset()
        except BaseException:
            self.stream.close()
            raise
        self.stream.seek(0, os.SEEK_END)  # _resume may have cut the file
        if self.stream.tell() == 0:
            self._append(records.header())
        self.header_end = len(records.header().encode("utf-8"))

    def _same_run(self, run: dict, overwrite: bool) -> bool:
        """Whether the partial file was started by this ``run``; a different run is an error unless ``overwrite``."""
        try:
            started = json.loads(self.run_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            started = None
        if started == run:
            return True
        if overwrite:
            return False
        if isinstance(started, dict):
            what = "other " + ", ".join(sorted(key for key in {*run, *started} if started.get(key) != run.get(key)))
        else:
            what = "unknown inputs and settings"
        raise ValueError(
            f"{self.partial} was started by a run with {what}; rerun that command to finish it, "
            "or pass --overwrite to start over"
        )

    def _resume(self) -> set[str]:
        """Ids of the documents complete in the partial file, cut back to the end of the last one."""
        done: set[str] = set()
        current, keep = None, 0
        with self.partial.open("r+b") as stream:
            for doc_id, start in self.records.scan(stream, str(self.partial)):
                if doc_id == current:
                    continue
                if doc_id in done:
                    raise ValueError(
                        f"{self.partial}: document {doc_id!r} appears in two places; delete the file to start over"
                    )
                if current is not None:
                    done.add(current)
                current, keep = doc_id, start
            stream.truncate(keep)  # drops a cut-off tail and the last document, which may be incomplete
        return done

    def _append(self, text: str) -> None:
        self.stream.write(text.encode("utf-8"))
        self.stream.flush()
        os.fsync(self.stream.fileno())

    def write(self, document: Document, sentences: Sequence[LabeledSentence]) -> None:
        self._append(self.records.encode(document.id, sentences))

    def commit(self) -> None:
        """Every document is written: the partial file becomes the output."""
        self.stream.close()
        os.replace(self.partial, self.output)
        self.run_file.unlink(missing_ok=True)

    def abandon(self) -> None:
        """The run failed: keep the partial file for a rerun, unless it holds no document."""
        empty = self.stream.tell() <= self.header_end
        self.stream.close()
        if empty:
            self.partial.unlink()
            self.run_file.unlink(missing_ok=True)


# ---- HTML -------------------------------------------------------------------------------------
_COLOURS = {"fact": "#cfe2ff", "quotation": "#c8f0d2", "opinion": "#ffd9b3"}
_OTHER_COLOURS = ["#e7d4ff", "#fff2a8", "#ffd1e6", "#d0d5ff", "#e2e5e9"]
_STYLE = """
body { font: 16px/1.6 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1f2328; }
h2 { font-size: 1.1rem; margin-top: 2.5rem; border-bottom: 1px solid #d0d7de; }
.text { white-space: pre-wrap; }
.text span, .legend span { border-radius: 3px; padding: 0 .1em; }
.text span:hover { outline: 1px solid #57606a; }
table.summary { border-collapse: collapse; font-size: .9rem; }
table.summary th, table.summary td { padding: .1rem .7rem; text-align: right; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
.bar { display: flex; width: 24rem; max-width: 100%; height: .6rem; margin: .4rem 0 1rem; }
.bar span { height: 100%; }
"""


class _HtmlWriter(Writer):
    """One self-contained page: a legend, then each document with a summary and highlighted text."""

    def __init__(self, stream: TextIO, labels: Sequence[str]):
        self.stream, self.labels, self.started = stream, list(labels), False

    def _start(self) -> None:
        """Write the page head: with the first document, so a run failing before it writes nothing."""
        if self.started:
            return
        self.started = True
        others = iter(_OTHER_COLOURS * len(self.labels))
        colours = [_COLOURS.get(label) or next(others) for label in self.labels]
        rules = "".join(f".l{i} {{ background: {colour}; }}\n" for i, colour in enumerate(colours))
        legend = " ".join(f'<span class="l{i}">{html.escape(label)}</span>' for i, label in enumerate(self.labels))
        self.stream.write(
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>factsift: sentence labels</title>\n<style>{_STYLE}{rules}</style>\n</head>\n<body>\n"
            "<h1>factsift: sentence labels</h1>\n"
            f'<p class="legend">{legend} &mdash; hover over a sentence to see its scores.</p>\n'
        )

    def write(self, document: Document, sentences: Sequence[LabeledSentence]) -> None:
        self._start()
        self.stream.write(
            f"<section>\n<h2>{html.escape(document.id)}</h2>\n{self._summary(sentences)}"
            f'<div class="text">{self._highlighted(document.text, sentences)}</div>\n</section>\n'
        )
        self.stream.flush()

    def finish(self) -> None:
        """Close the page."""
        self._start()
        self.stream.write("</body>\n</html>\n")
        self.stream.flush()

    def _summary(self, sentences: Sequence[LabeledSentence]) -> str:
        counts, total = Counter(sentence.label for sentence in sentences), len(sentences)
        share = {label: counts[label] / total if total else 0.0 for label in self.labels}
        rows = "".join(
            f'<tr><td><span class="l{i}">{html.escape(label)}</span></td><td>{counts[label]}</td>'
            f"<td>{share[label]:.0%}</td></tr>\n"
            for i, label in enumerate(self.labels)
        )
        bar = "".join(
            f'<span class="l{i}" style="width: {share[label]:.2%}"></span>'
            for i, label in enumerate(self.labels) if counts[label]
        )
        return (
            f'<table class="summary">\n<tr><th>label</th><th>sentences</th><th>share</th></tr>\n{rows}'
            f"<tr><th>total</th><th>{total}</th><th></th></tr>\n</table>\n<div class=\"bar\">{bar}</div>\n"
        )

    def _highlighted(self, text: str, sentences: Sequence[LabeledSentence]) -> str:
        parts, position = [], 0
        for sentence in sentences:
            scores = ", ".join(f"{label} {score:.2f}" for label, score in sentence.scores.items())
            title = f"{sentence.label} {sentence.score:.2f} ({scores})"
            parts += [
                html.escape(text[position : sentence.start]),
                f'<span class="l{self.labels.index(sentence.label)}" title="{html.escape(title)}">'
                f"{html.escape(text[sentence.start : sentence.end])}</span>",
            ]
            position = sentence.end
        parts.append(html.escape(text[position:]))
        return "".join(parts)
