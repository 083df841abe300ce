"""Read and validate labeled sentences (CSV, TSV, JSONL, parquet, HF datasets); make splits."""

from __future__ import annotations

import csv
import json
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")


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

    ``label_map`` renames labels (``{"OBJ": "fact"}``); when given, every label must be in it.
    Context columns are optional: when absent, sentences are read without neighbours.
    """
    name, rows = _rows(source, split)
    data = LabeledData([], [], [], [], [])
    header_checked = False
    for where, row in rows:
        if not header_checked:
            _check_columns(name, row, columns)
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


def stratified_split(data: LabeledData, dev_fraction: float, seed: int) -> tuple[LabeledData, LabeledData]:
    """Split into train/dev keeping label proportions; every label needs ≥2 examples."""
    from sklearn.model_selection import train_test_split

    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must be between 0 and 1, got {dev_fraction}")
    too_few = {label: n for label, n in data.label_counts().items() if n < 2}
    if too_few:
        detail = ", ".join(f"{label!r} ({n})" for label, n in too_few.items())
        raise DataError(f"too few examples to split into train and dev: {detail}; give at least 2 per label")
    indices = np.arange(len(data))
    n_dev = max(round(len(data) * dev_fraction), len(set(data.labels)))
    train_idx, dev_idx = train_test_split(
        indices, test_size=n_dev, random_state=seed, stratify=data.labels
    )
    return data.subset(sorted(train_idx)), data.subset(sorted(dev_idx))


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
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(f"{path}: line {line}: invalid UTF-8 at byte {error.start}") from error


def _csv_rows(path: Path) -> Iterator[tuple[str, Row]]:
    text = _read_text(path)
    tsv = path.suffix.lower() == ".tsv"
    reader = csv.DictReader(
        text.splitlines(keepends=True) if not tsv else text.splitlines(),
        delimiter="\t" if tsv else ",",
        quoting=csv.QUOTE_NONE if tsv else csv.QUOTE_MINIMAL,
    )
    try:
        for row in reader:
            if None in row:
                raise DataError(f"{path}:{reader.line_num}: more fields than the header has")
            yield f"{path}:{reader.line_num}", row
    except csv.Error as error:
        raise DataError(f"{path}:{reader.line_num}: {error}") from error


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Row]]:
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(f"{path}:{number}: column {error.colno}: invalid JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
        yield f"{path}:{number}", row


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
    return name, ((f"{name} row {number}", row) for number, row in enumerate(dataset, start=1))


def _check_columns(name: str, row: Row, columns: Columns) -> None:
    for column in (columns.text, columns.label):
        if column not in row:
            raise DataError(f"{name}: no column {column!r} (columns: {', '.join(map(str, row))})")


def _cell(row: Row, column: str, where: str) -> str:
    if column not in row:
        raise DataError(f"{where}: missing column {column!r}")
    value = row[column]
    if value is None:
        return ""
    if not isinstance(value, (str, int)):
        raise DataError(f"{where}: column {column!r} holds {type(value).__name__} {value!r}, expected text")
    return str(value)


def _optional_cell(row: Row, column: str | None, where: str) -> str:
    return _cell(row, column, where) if column and column in row else ""
