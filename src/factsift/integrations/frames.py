"""Label the documents of a pandas DataFrame: one row per sentence.

The rows are the JSONL records of ``factsift label`` (``writers.sentence_records``), so a frame, a
dataset and a JSONL file of the same documents hold the same values. The document id keeps its
column name and type, so the result joins back onto the input (``df.merge(labels, on="id")``).
"""

from __future__ import annotations

import os

import pandas as pd

from factsift.integrations.hf_datasets import ID_COLUMN, RECORD_COLUMNS, check_columns, check_texts
from factsift.integrations.loading import load_classifier
from factsift.model import Classifier
from factsift.writers import sentence_records


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
    check_columns(df.columns, text, id)
    ids = pd.Series(df.index, name=ID_COLUMN) if id is None else df[id].reset_index(drop=True)
    check_texts(df[text], ids, text)
    classifier = load_classifier(model)
    documents = classifier.label_texts(df[text].tolist(), batch_size=batch_size)
    records = [record for row, sentences in enumerate(documents) for record in sentence_records(row, sentences)]
    frame = pd.DataFrame.from_records(records, columns=RECORD_COLUMNS)
    rows = frame.pop(ID_COLUMN).astype("int64")
    frame.insert(0, ids.name, ids.take(rows).reset_index(drop=True))
    return frame
