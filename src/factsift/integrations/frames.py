"""Label the documents of a pandas DataFrame or a 🤗 ``datasets`` dataset: one row per sentence.

The rows are the JSONL records of ``factsift label`` (``writers.sentence_records``), so a frame, a
dataset and a JSONL file of the same documents hold the same values. The document id keeps its
column name and type, so the result joins back onto the input (``df.merge(labels, on="id")``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from factsift import Classifier
from factsift.integrations import load_classifier
from factsift.writers import COLUMNS, sentence_records

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

RECORD_COLUMNS = [*COLUMNS, "scores"]  # the keys of a sentence_records row
ID_COLUMN = COLUMNS[0]  # "doc_id": the id column's name when the input has none
DOCUMENTS_PER_MAP_BATCH = 256


def label_frame(
    df: pd.DataFrame,
    text: str = "text",
    id: str | None = "id",
    model: Classifier | str | os.PathLike | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """Label every document of ``df``: a long DataFrame with one row per sentence.

    Columns: the id column (``id``, with its dtype; ``doc_id`` holding the index label when ``id`` is
    None), then ``sentence_index``, ``paragraph``, ``start``, ``end`` (offsets into the document's
    text), ``text``, ``label``, ``score`` and ``scores`` (a dict of every label's score).
    ``model``: a Classifier, a model directory or Hub id, or None for the shipped model.
    """
    _check_columns(df.columns, text, id)
    ids = pd.Series(df.index, name=ID_COLUMN) if id is None else df[id].reset_index(drop=True)
    _check_texts(df[text], ids, text)
    classifier = load_classifier(model)
    documents = classifier.label_texts(df[text].tolist(), batch_size=batch_size)
    records = [record for row, sentences in enumerate(documents) for record in sentence_records(row, sentences)]
    frame = pd.DataFrame.from_records(records, columns=RECORD_COLUMNS)
    rows = frame.pop(ID_COLUMN).astype("int64")
    frame.insert(0, ids.name, ids.take(rows).reset_index(drop=True))
    return frame


def label_dataset(
    classifier: Classifier,
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
        _check_columns(ds.column_names, text_column, id_column)
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
        _check_texts(batch[text_column], ids, text_column)
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


def _check_columns(columns: Sequence[str], text: str, id: str | None) -> None:
    """ValueError naming the missing or clashing column."""
    for role, name in (("text", text), ("id", id)):
        if name is not None and name not in columns:
            raise ValueError(f"{role} column {name!r} not found; the columns are {', '.join(map(str, columns))}")
    if id is not None and id != ID_COLUMN and id in RECORD_COLUMNS:
        raise ValueError(f"id column {id!r} clashes with a sentence column; rename it first")


def _check_texts(texts: Sequence, ids: Sequence, column: str) -> None:
    """TypeError naming the first document whose text is not a str (a missing value, a number)."""
    for doc_id, value in zip(ids, texts):
        if not isinstance(value, str):
            raise TypeError(f"column {column!r}, document {doc_id!r}: expected a str, got {value!r}")
