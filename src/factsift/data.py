"""Read and validate labeled sentences (CSV, TSV, JSONL, parquet, HF datasets); make splits."""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from factsift.fileio import decode_utf8, json_object_lines, tsv_quoting

TEXT_ALIAS = "sentence"
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
MIN_TRAIN_EXAMPLES = 2  # per label, see check_label_counts
MIN_DEV_EXAMPLES = 1


class DataError(ValueError):
    """Labeled data that cannot be used; the message names the file, row and value."""


@dataclass
class LabeledData:
    """Sentences with labels and optional neighbouring text, plus where each row came from."""

    texts: list[str]
    labels: list[str]
    context_before: list[str]
    context_after: list[str]
    origins: list[str] = field(default_factory=list)  # "file:line" of each row, for messages

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        """Examples per label, most common first."""
        return dict(Counter(self.labels).most_common())

    def subset(self, indices: Sequence[int]) -> LabeledData:
        """The rows at ``indices``, in that order."""
        pick = lambda values: [values[i] for i in indices]  # noqa: E731
        return LabeledData(
            pick(self.texts), pick(self.labels), pick(self.context_before),
            pick(self.context_after), pick(self.origins),
        )


@dataclass(frozen=True)
class Columns:
    """Which columns hold the sentence, its label and (optionally) its neighbouring text."""

    text: str = "text"
    label: str = "label"
    context_before: str | None = "context_before"
    context_after: str | None = "context_after"


def load_data(
    source: str | Path | Any,
    columns: Columns = Columns(),
    label_map: Mapping[str, str] | None = None,
    split: str | None = None,
) -> LabeledData:
    """Load labeled sentences from a file path or a ``datasets.Dataset``/``DatasetDict``.

    ``label_map`` renames labels (``{"OBJ": "fact"}`` or ``"OBJ=fact,SUBJ=opinion"``); when given,
    every label must be in it. With the default text column ``text`` absent, a ``sentence``
    column is used. Context columns are optional: when the default names are absent,
    sentences are read without neighbours; a context column named explicitly must exist.
    ``split`` picks the split of a ``DatasetDict``. Integer labels of a ``datasets.ClassLabel``
    column are read as their names.
    """
    if isinstance(label_map, str):
        from factsift.labels import parse_label_map

        label_map = parse_label_map(label_map)
    name, rows = _rows(source, split)
    data = LabeledData([], [], [], [], [])
    header_checked = False
    for where, row in rows:
        if not header_checked:
            columns = _with_text_alias(columns, row)
            _check_columns(where if name.lower().endswith((".jsonl", ".json")) else name, row, columns)
            header_checked = True
        text = _cell(row, columns.text, where)
        if not text.strip():
            raise DataError(f"{where}: empty text in column {columns.text!r}")
        label = _cell(row, columns.label, where).strip()
        if not label:
            raise DataError(f"{where}: empty label in column {columns.label!r}")
        if label_map:
            if label not in label_map:
                raise DataError(
                    f"{where}: label {label!r} is not in the label map ({', '.join(sorted(label_map))})"
                )
            label = label_map[label]
        data.texts.append(text)
        data.labels.append(label)
        data.context_before.append(_optional_cell(row, columns.context_before, where))
        data.context_after.append(_optional_cell(row, columns.context_after, where))
        data.origins.append(where)
    if not header_checked:
        raise DataError(f"{name}: no rows")
    return data


def check_known_labels(data: LabeledData, known: Sequence[str], what: str = "the model") -> None:
    """Raise DataError at the first row whose label is not among ``known``."""
    allowed = set(known)
    for label, where in zip(data.labels, data.origins):
        if label not in allowed:
            raise DataError(f"{where}: label {label!r} is unknown to {what} ({', '.join(known)})")


def check_label_counts(train: LabeledData, dev: LabeledData) -> None:
    """Raise DataError unless ``train`` has at least two labels, each with ``MIN_TRAIN_EXAMPLES``
    training and ``MIN_DEV_EXAMPLES`` dev examples: with one label a model learns to give it to
    everything, and a label missing from dev cannot be scored."""
    rule = (
        f"training needs at least 2 labels, each with at least {MIN_TRAIN_EXAMPLES} training and "
        f"{MIN_DEV_EXAMPLES} dev example(s)"
    )
    train_counts, dev_counts = Counter(train.labels), Counter(dev.labels)
    if len(train_counts) < 2:
        found = ", ".join(f"{label!r} ({n})" for label, n in train_counts.items()) or "none"
        raise DataError(f"{rule}; the training data has only one label: {found}")
    short = [
        f"{label!r} has {train_counts[label]} training and {dev_counts[label]} dev example(s)"
        for label in train_counts
        if train_counts[label] < MIN_TRAIN_EXAMPLES or dev_counts[label] < MIN_DEV_EXAMPLES
    ]
    if short:
        raise DataError(f"{rule}; {'; '.join(short)}")


def stratified_split(data: LabeledData, dev_fraction: float, seed: int) -> tuple[LabeledData, LabeledData]:
    """Split into train/dev keeping label proportions, reproducibly from ``seed``.

    Each label puts ``dev_fraction`` of its examples (rounded) into dev, but at least one, and
    keeps at least one for training, so every label needs 2 examples; otherwise DataError names
    the label and its rows. Both parts keep the input order.
    """
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must be between 0 and 1, got {dev_fraction!r}")
    too_few = {label: n for label, n in data.label_counts().items() if n < 2}
    if too_few:
        detail = "; ".join(
            f"label {label!r} has {n} example ({', '.join(_origins_of(data, label))})" for label, n in too_few.items()
        )
        raise DataError(
            f"too few examples to split into train and dev: {detail}; give at least 2 per label or a dev file"
        )
    rng = np.random.default_rng(seed)
    dev_indices: list[int] = []
    for label in sorted(set(data.labels)):
        rows = np.array([i for i, value in enumerate(data.labels) if value == label])
        rng.shuffle(rows)
        n_dev = min(max(int(len(rows) * dev_fraction + 0.5), 1), len(rows) - 1)
        dev_indices += rows[:n_dev].tolist()
    in_dev = set(dev_indices)
    train_indices = [i for i in range(len(data)) if i not in in_dev]
    return data.subset(train_indices), data.subset(sorted(in_dev))


def _origins_of(data: LabeledData, label: str, limit: int = 3) -> list[str]:
    return [where for value, where in zip(data.labels, data.origins) if value == label][:limit]


def count_overlap(train: LabeledData, other: LabeledData, other_name: str = "dev") -> int:
    """Count ``other`` sentences also in ``train`` (whitespace-normalised); warn when there are any."""
    seen = {" ".join(text.split()) for text in train.texts}
    shared = sum(" ".join(text.split()) in seen for text in other.texts)
    if shared:
        warnings.warn(
            f"{shared} of {len(other)} {other_name} sentences also occur in the training data; "
            "scores on them overstate accuracy",
            stacklevel=2,
        )
    return shared


# ---- readers --------------------------------------------------------------------------------
Row = Mapping[str, Any]


def _rows(source: Any, split: str | None) -> tuple[str, Iterator[tuple[str, Row]]]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path}: no such file")
        suffix = path.suffix.lower()
        readers = {".csv": _csv_rows, ".tsv": _csv_rows, ".jsonl": _jsonl_rows, ".json": _jsonl_rows,
                   ".parquet": _parquet_rows}
        if suffix not in readers:
            raise DataError(f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}")
        return str(path), readers[suffix](path)
    return _dataset_rows(source, split)


def _read_text(path: Path) -> str:
    return decode_utf8(path.read_bytes(), str(path), error=DataError)


def _csv_rows(path: Path) -> Iterator[tuple[str, Row]]:
    """Rows of a CSV (RFC 4180 quoting) or TSV file: a TSV is read with standard quoting when it was
    written with it (``fileio.tsv_quoting``), else quote marks are text.

    Only ``\n``, ``\r\n`` and ``\r`` end a line, so U+2028 or U+0085 inside a sentence stay in it.
    A row with more fields than the header is an error; a shorter row lacks its trailing columns
    (an error only if one of them is used); blank lines are skipped.
    """
    tsv = path.suffix.lower() == ".tsv"
    text = _read_text(path)
    quoting = tsv_quoting(text) if tsv else csv.QUOTE_MINIMAL
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter="\t" if tsv else ",",
        quoting=quoting,
        strict=quoting != csv.QUOTE_NONE,
    )
    try:
        header = next(reader, None)
        if header is None:
            return
        header = [name.strip() for name in header]
        start = reader.line_num + 1
        for fields in reader:
            where, start = f"{path}:{start}", reader.line_num + 1
            if not fields or fields == [""]:
                continue
            if len(fields) > len(header):
                raise DataError(
                    f"{where}: {len(fields)} fields, more than the {len(header)} of the header ({', '.join(header)})"
                )
            # A short row lacks trailing columns; that is an error only if a column in use is missing.
            yield where, dict(zip(header, fields))
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: {error}") from error


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Row]]:
    """Rows of a JSON Lines file (one object a line), or of a ``.json`` file holding one array."""
    text = _read_text(path)
    if path.suffix.lower() == ".json" and text.lstrip().startswith("["):
        yield from _json_array_rows(path, text)
        return
    # Split on "\n" only: str.splitlines() would also split at U+2028 etc., which JSON allows in strings.
    for number, row in json_object_lines(enumerate(text.split("\n"), start=1), str(path), error=DataError):
        yield f"{path}:{number}", row


def _json_array_rows(path: Path, text: str) -> Iterator[tuple[str, Row]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") from error
    if not isinstance(items, list):
        raise DataError(f"{path}: expected a JSON array of objects or JSON Lines")
    for number, row in enumerate(items, start=1):
        if not isinstance(row, dict):
            raise DataError(f"{path}: item {number}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}: item {number}", row


def _parquet_rows(path: Path) -> Iterator[tuple[str, Row]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for bad files
        raise DataError(f"{path}: not a readable parquet file ({error})") from error
    for number, row in enumerate(table.to_pylist(), start=1):
        yield f"{path}: row {number}", row


def _dataset_rows(dataset: Any, split: str | None) -> tuple[str, Iterator[tuple[str, Row]]]:
    import datasets

    if isinstance(dataset, datasets.DatasetDict):
        if split is None:
            raise DataError(f"a DatasetDict needs split= (one of {', '.join(dataset)})")
        if split not in dataset:
            raise DataError(f"DatasetDict has no split {split!r} (splits: {', '.join(dataset)})")
        dataset, name = dataset[split], f"dataset[{split!r}]"
    elif isinstance(dataset, datasets.Dataset):
        name = "dataset"
    else:
        raise DataError(f"expected a file path or a datasets.Dataset, got {type(dataset).__name__}")
    class_labels = {
        column: feature for column, feature in (dataset.features or {}).items()
        if isinstance(feature, datasets.ClassLabel)
    }

    def rows() -> Iterator[tuple[str, Row]]:
        for number, row in enumerate(dataset, start=1):
            for column, feature in class_labels.items():
                if isinstance(row.get(column), int) and 0 <= row[column] < feature.num_classes:
                    row = {**row, column: feature.int2str(row[column])}
            yield f"{name} row {number}", row

    return name, rows()


def _with_text_alias(columns: Columns, row: Row) -> Columns:
    """The default text column ``text`` falls back to ``sentence`` (CheckThat!, NewsSD) if only that exists."""
    if columns.text == Columns.text and Columns.text not in row and TEXT_ALIAS in row:
        return replace(columns, text=TEXT_ALIAS)
    return columns


def _check_columns(name: str, row: Row, columns: Columns) -> None:
    defaults = Columns()
    required = [columns.text, columns.label]
    # A context column the caller named (not the default name) must exist; a default one may be absent.
    required += [
        column for column, default in ((columns.context_before, defaults.context_before),
                                       (columns.context_after, defaults.context_after))
        if column is not None and column != default
    ]
    for column in required:
        if column not in row:
            raise DataError(f"{name}: no column {column!r} (columns: {', '.join(map(str, row))})")


def _cell(row: Row, column: str, where: str) -> str:
    if column not in row:
        raise DataError(f"{where}: missing column {column!r}")
    value = row[column]
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{where}: column {column!r} holds {type(value).__name__} {value!r}, expected text")
    return str(value)


def _optional_cell(row: Row, column: str | None, where: str) -> str:
    return _cell(row, column, where) if column and column in row else ""
