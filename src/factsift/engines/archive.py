"""Label an archive into a folder of part files, resumably, with any engine.

The driver reads the documents (:mod:`factsift.engines.sources`), cuts them into parts of
``part_size`` consecutive documents and hands the parts to an engine, which labels each part with
one call of :func:`factsift.engines.core.label_batch`. Each part becomes ``part-NNNNN.parquet``
(or ``.jsonl``), written atomically. ``_manifest.json`` holds the settings: a rerun with the same
settings skips the parts already written, one with other settings is refused. ``_SUCCESS`` (with
the summary) marks a finished folder; skipped bad records go to ``_errors.jsonl``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Protocol

import pandas as pd
from tqdm import tqdm

from factsift.documents import Document
from factsift.engines.core import PART_COLUMN, POSITION_COLUMN, cached_classifier, label_parts, row_types
from factsift.engines.sources import archive_files, read_archive
from factsift.fileio import atomic_open, atomic_write_text
from factsift.model import Classifier

FORMATS = ("parquet", "jsonl")
ENGINES = ("local", "ray", "spark")
ON_ERROR = ("stop", "skip")
DEFAULT_PART_SIZE = 64
MANIFEST_FILE = "_manifest.json"
SUCCESS_FILE = "_SUCCESS"
ERRORS_FILE = "_errors.jsonl"


class Engine(Protocol):
    """Labels documents (``id``, ``text``, ``_part``, ``_position``) into sentence rows with ``_part``,
    yielded as they come; ``parts_per_call`` parts are handed over at a time."""

    parts_per_call: int

    def label(self, documents: pd.DataFrame) -> Iterator[pd.DataFrame]: ...


class LocalEngine:
    """This process, one part at a time."""

    parts_per_call = 1

    def __init__(self, classifier: Classifier):
        self.classifier = classifier

    def label(self, documents: pd.DataFrame) -> Iterator[pd.DataFrame]:
        return label_parts([documents], self.classifier)


@dataclass(frozen=True)
class ArchiveSummary:
    """What a run did: parts labelled now and before, documents and sentences written now, bad records."""

    output: str
    parts_written: int
    parts_skipped: int
    documents: int
    sentences: int
    errors: int


def label_archive(
    paths: Iterable[str],
    output: str | Path,
    engine: Engine,
    settings: dict,
    fmt: str = "parquet",
    text_field: str = "text",
    id_field: str = "id",
    part_size: int = DEFAULT_PART_SIZE,
    on_error: str = "stop",
    progress: bool = True,
) -> ArchiveSummary:
    """Label the JSONL/CSV/parquet records in ``paths`` into the folder ``output`` with ``engine``.

    ``settings`` (the model and backend) joins the reading and part options in the manifest.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error must be one of {', '.join(ON_ERROR)}, got {on_error!r}")
    if part_size < 1:
        raise ValueError(f"part_size must be >= 1, got {part_size}")
    files = archive_files(paths)
    output = Path(output)
    manifest = {
        **settings, "inputs": [str(file) for file in files], "text_field": text_field, "id_field": id_field,
        "format": fmt, "part_size": part_size, "on_error": on_error,
    }
    _claim(output, manifest)
    errors: list[dict] = []
    skip = (lambda where, message: errors.append({"record": where, "error": message})) if on_error == "skip" else None
    written = skipped = documents_done = sentences_done = 0
    pending: list[pd.DataFrame] = []

    def flush() -> None:
        nonlocal written, documents_done, sentences_done
        if not pending:
            return
        labelled = []
        for rows in engine.label(pd.concat(pending, ignore_index=True)):
            labelled.append(rows)
            bar.update(len(rows))
        rows = pd.concat(labelled, ignore_index=True)
        for index, part in ((int(part[PART_COLUMN].iloc[0]), part) for part in pending):
            part_rows = rows[rows[PART_COLUMN] == index].drop(columns=PART_COLUMN)
            _write_part(_part_path(output, index, fmt), part_rows, fmt)
            written, documents_done, sentences_done = written + 1, documents_done + len(part), sentences_done + len(part_rows)
        bar.set_postfix(parts=written + skipped, documents=documents_done, refresh=False)
        pending.clear()

    with tqdm(desc="labelling", unit="sentence", file=sys.stderr, disable=not progress, dynamic_ncols=True) as bar:
        for index, part in enumerate(_parts(read_archive(files, text_field, id_field, skip), part_size)):
            if _part_path(output, index, fmt).exists():
                skipped += 1
                continue
            pending.append(_part_frame(index, part))
            if len(pending) >= engine.parts_per_call:
                flush()
        flush()
    summary = ArchiveSummary(str(output), written, skipped, documents_done, sentences_done, len(errors))
    if on_error == "skip":
        atomic_write_text(output / ERRORS_FILE, "".join(json.dumps(error, ensure_ascii=False) + "\n" for error in errors))
    atomic_write_text(output / SUCCESS_FILE, json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _claim(output: Path, manifest: dict) -> None:
    """Make ``output`` this run's folder: new, empty, or written before with the same settings."""
    if output.exists() and not output.is_dir():
        raise NotADirectoryError(f"{output} is a file; the output of --engine is a folder")
    path = output / MANIFEST_FILE
    if path.is_file():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = [key for key in sorted(set(before) | set(manifest)) if before.get(key) != manifest.get(key)]
        if changed:
            raise ValueError(
                f"{output} was written with other settings ({', '.join(f'{key}: {before.get(key)!r}' for key in changed)}); "
                "rerun with those settings to resume, or choose another --output folder"
            )
        return
    if output.is_dir() and any(output.iterdir()):
        raise FileExistsError(f"{output} is a folder that holds files but no {MANIFEST_FILE}; choose an empty or new folder")
    atomic_write_text(path, json.dumps(manifest, indent=2) + "\n")


def _parts(documents: Iterator[Document], size: int) -> Iterator[list[Document]]:
    while part := list(islice(documents, size)):
        yield part


def _part_frame(index: int, documents: list[Document]) -> pd.DataFrame:
    return pd.DataFrame({
        "id": [document.id for document in documents], "text": [document.text for document in documents],
        PART_COLUMN: index, POSITION_COLUMN: range(len(documents)),
    })


def _part_path(output: Path, index: int, fmt: str) -> Path:
    return output / f"part-{index:05d}.{fmt}"


def _write_part(path: Path, rows: pd.DataFrame, fmt: str) -> None:
    rows = rows.reset_index(drop=True).astype(row_types(rows.columns))  # engines hand back strings differently
    if fmt == "parquet":
        with atomic_open(path, "wb") as stream:
            rows.to_parquet(stream, index=False)
    else:
        with atomic_open(path, "w") as stream:
            stream.write(rows.to_json(orient="records", lines=True, force_ascii=False) if len(rows) else "")


def open_engine(
    name: str, address: str | None, workers: int, model: str | None, backend: str = "auto", threads: int | None = None
) -> tuple[Engine, dict]:
    """The engine ``name`` (local, ray or spark) and the model settings its results depend on.

    A cluster worker uses ``threads`` CPU threads (default 1); the local engine, one per core.
    """
    if name not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {name!r}")
    classifier = cached_classifier(model, backend, threads)
    settings = {"model": classifier.source, "backend": backend, "labels": classifier.labels}
    if name == "local":
        return LocalEngine(classifier), settings
    if name == "ray":
        from factsift.engines.ray import RayEngine

        return RayEngine(address, workers, model, backend, threads or 1), settings
    from factsift.engines.spark import SparkEngine

    return SparkEngine(address, workers, model, backend, threads or 1), settings
