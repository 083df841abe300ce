"""Label the documents of a 🤗 ``datasets`` dataset: one row per sentence, the JSONL records.

Shared with ``frames`` (pandas): the row columns and the checks of the input columns and texts.
This module never imports ``factsift.model``: ``Classifier.label_dataset`` delegates here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from factsift.results import LabeledSentence
from factsift.writers import COLUMNS, sentence_records

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

RECORD_COLUMNS = [*COLUMNS, "scores"]  # the keys of a sentence_records row
ID_COLUMN = COLUMNS[0]  # "doc_id": the id column's name when the input has none
DOCUMENTS_PER_MAP_BATCH = 256


class TextLabeller(Protocol):
    """What labelling needs of a ``factsift.Classifier``."""

    labels: list[str]

    def label_texts(self, texts: list[str], batch_size: int = 32) -> Iterator[list[LabeledSentence]]: ...


def label_dataset(
    classifier: TextLabeller,
    ds: Dataset | IterableDataset,
    text_column: str = "text",
    id_column: str | None = None,
    batch_size: int = 32,
) -> Dataset | IterableDataset:
    """Label every document of a ``datasets.Dataset`` (or a streaming ``IterableDataset``): a dataset
    of the same kind with one row per sentence, the columns of ``label_frame``.

    The id column keeps its name and feature type; without one, ``doc_id`` holds the row number.
    A ``Dataset`` is labelled by a batched ``map`` with a progress bar; an ``IterableDataset`` lazily,
    as it is read.
    """
    import datasets

    if ds.column_names is not None:  # a stream of unknown shape shows its columns only as it is read
        check_columns(ds.column_names, text_column, id_column)
    id_name = id_column or ID_COLUMN
    id_feature = datasets.Value("int64") if id_column is None else (ds.features or {}).get(id_column)
    features = datasets.Features({
        id_name: id_feature,
        "sentence_index": datasets.Value("int64"), "paragraph": datasets.Value("int64"),
        "start": datasets.Value("int64"), "end": datasets.Value("int64"),
        "text": datasets.Value("string"), "label": datasets.Value("string"), "score": datasets.Value("float64"),
        "scores": {label: datasets.Value("float64") for label in classifier.labels},
    }) if id_feature is not None else None

    def label_batch(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        ids = indices if id_column is None else batch[id_column]
        check_texts(batch[text_column], ids, text_column)
        columns: dict[str, list] = {name: [] for name in RECORD_COLUMNS}
        documents = classifier.label_texts(batch[text_column], batch_size=batch_size)
        for doc_id, sentences in zip(ids, documents):
            for record in sentence_records(doc_id, sentences):
                for name, value in record.items():
                    columns[name].append(value)
        return {id_name if name == ID_COLUMN else name: values for name, values in columns.items()}

    used = [text_column] if id_column is None else [text_column, id_column]
    options = {
        "batched": True, "batch_size": DOCUMENTS_PER_MAP_BATCH, "with_indices": True,
        "remove_columns": used, "features": features,
    }
    if isinstance(ds, datasets.Dataset):
        # a fresh fingerprint: hashing the function would hash the model's weights
        options |= {"desc": "factsift", "new_fingerprint": uuid.uuid4().hex}
    return ds.select_columns(used).map(label_batch, **options)


def check_columns(columns: Sequence[str], text: str, id: str | None) -> None:
    """ValueError naming the missing or clashing column."""
    for role, name in (("text", text), ("id", id)):
        if name is not None and name not in columns:
            raise ValueError(f"{role} column {name!r} not found; the columns are {', '.join(map(str, columns))}")
    if id is not None and id != ID_COLUMN and id in RECORD_COLUMNS:
        raise ValueError(f"id column {id!r} clashes with a sentence column; rename it first")


def check_texts(texts: Sequence, ids: Sequence, column: str) -> None:
    """TypeError naming the first document whose text is not a str (a missing value, a number)."""
    for doc_id, value in zip(ids, texts):
        if not isinstance(value, str):
            raise TypeError(f"column {column!r}, document {doc_id!r}: expected a str, got {value!r}")
