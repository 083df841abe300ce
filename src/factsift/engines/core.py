"""The one function every engine runs: a batch of documents in, a batch of sentence rows out.

A *part* is a run of consecutive documents labelled by one call of :func:`label_batch`, so by one
call of ``Classifier.label_texts``: which documents share a model batch then depends only on the
part, never on how an engine happens to cut its batches, and every engine gives the same scores
bit for bit (the int8 ONNX backend quantizes attention activations per batch, so batch-mates
matter). Engines keep a part whole and in order; :func:`label_parts` labels each one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import lru_cache

import pandas as pd

from factsift.model import Classifier
from factsift.writers import row_columns, sentence_rows

PART_COLUMN = "_part"
POSITION_COLUMN = "_position"
SENTENCE_BATCH_SIZE = 32
_TEXT_COLUMNS = ("doc_id", "text", "label")
_INTEGER_COLUMNS = ("sentence_index", "paragraph", "start", "end", PART_COLUMN)


def label_batch(
    documents: pd.DataFrame,
    classifier: Classifier,
    id_column: str = "id",
    text_column: str = "text",
    batch_size: int = SENTENCE_BATCH_SIZE,
) -> pd.DataFrame:
    """Sentence rows (``writers.row_columns``) for ``documents``, in document then sentence order."""
    ids = [str(doc_id) for doc_id in documents[id_column]]
    labelled = classifier.label_texts(list(documents[text_column]), batch_size=batch_size, max_chars=None)
    rows = [row for doc_id, sentences in zip(ids, labelled) for row in sentence_rows(doc_id, sentences, classifier.labels)]
    return _frame(rows, classifier.labels)


def label_parts(
    batches: Iterable[pd.DataFrame],
    classifier: Classifier,
    id_column: str = "id",
    text_column: str = "text",
    batch_size: int = SENTENCE_BATCH_SIZE,
) -> Iterator[pd.DataFrame]:
    """Sentence rows for each part in ``batches``, tagged with its ``_part`` column.

    The rows of one part must be consecutive (a part may run on from one batch into the next).
    Batches without a ``_part`` column are labelled one batch at a time, untagged.
    """
    pending: list[pd.DataFrame] = []
    for batch in batches:
        if PART_COLUMN not in batch.columns:
            yield label_batch(batch, classifier, id_column, text_column, batch_size)
            continue
        starts = batch[PART_COLUMN].ne(batch[PART_COLUMN].shift()).to_numpy().nonzero()[0].tolist()
        for start, end in zip(starts, starts[1:] + [len(batch)]):
            piece = batch.iloc[start:end]
            if pending and pending[-1][PART_COLUMN].iloc[0] != piece[PART_COLUMN].iloc[0]:
                yield _label_part(pd.concat(pending), classifier, id_column, text_column, batch_size)
                pending = []
            pending.append(piece)
    if pending:
        yield _label_part(pd.concat(pending), classifier, id_column, text_column, batch_size)


def _label_part(
    documents: pd.DataFrame, classifier: Classifier, id_column: str, text_column: str, batch_size: int
) -> pd.DataFrame:
    if POSITION_COLUMN in documents.columns:
        documents = documents.sort_values(POSITION_COLUMN, kind="stable")
    rows = label_batch(documents, classifier, id_column, text_column, batch_size)
    return rows.assign(**{PART_COLUMN: documents[PART_COLUMN].iloc[0]})


def row_types(columns: Iterable[str]) -> dict[str, str]:
    """The pandas type of each sentence-row column (``str``, ``int64`` or a ``float64`` score), so
    every engine's rows have the same schema."""
    return {name: "str" if name in _TEXT_COLUMNS else "int64" if name in _INTEGER_COLUMNS else "float64" for name in columns}


def _frame(rows: list[dict], labels: list[str]) -> pd.DataFrame:
    columns = row_columns(labels)
    return pd.DataFrame(rows, columns=columns).astype(row_types(columns))


@lru_cache(maxsize=4)
def cached_classifier(model: str | None, backend: str = "auto", threads: int | None = None) -> Classifier:
    """The classifier for ``model``, loaded once per process (a Spark Python worker, the CLI)."""
    return Classifier.from_pretrained(model, device="cpu", backend=backend, threads=threads)
