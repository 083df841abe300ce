"""The batch -> sentence-rows function every engine runs."""

from __future__ import annotations

import pandas as pd
import pandas.testing as pdt

from factsift.engines.core import PART_COLUMN, POSITION_COLUMN, label_batch, label_parts
from factsift.writers import row_columns, sentence_rows

from .conftest import archive_documents


def test_label_batch_gives_the_writers_rows_for_each_document(varied_classifier):
    documents = pd.DataFrame(archive_documents(8))
    rows = label_batch(documents, varied_classifier)
    expected = [
        row for doc_id, text in zip(documents["id"], documents["text"])
        for row in sentence_rows(doc_id, varied_classifier.label_text(text), varied_classifier.labels)
    ]
    assert list(rows.columns) == row_columns(varied_classifier.labels)
    assert rows.to_dict("records") == expected
    assert set(rows["doc_id"]) == {d for d, t in zip(documents["id"], documents["text"]) if t}  # d0 is empty


def test_no_documents_give_typed_empty_rows(varied_classifier):
    rows = label_batch(pd.DataFrame({"id": [], "text": []}), varied_classifier)
    assert list(rows.columns) == row_columns(varied_classifier.labels)
    assert rows.empty and rows["start"].dtype == "int64" and rows["score"].dtype == "float64"


def test_a_part_cut_across_batches_or_shuffled_is_labelled_whole_and_in_order(varied_classifier):
    documents = pd.DataFrame(archive_documents(12)).assign(**{PART_COLUMN: [0] * 7 + [1] * 5})
    documents[POSITION_COLUMN] = list(range(7)) + list(range(5))
    whole = pd.concat(label_parts([documents], varied_classifier), ignore_index=True)
    shuffled = pd.concat([documents.iloc[:7].iloc[::-1], documents.iloc[7:]])
    cut = [shuffled.iloc[:3], shuffled.iloc[3:9], shuffled.iloc[9:]]
    pdt.assert_frame_equal(pd.concat(label_parts(cut, varied_classifier), ignore_index=True), whole)
    first = label_batch(documents.iloc[:7], varied_classifier).assign(**{PART_COLUMN: 0})
    pdt.assert_frame_equal(whole[whole[PART_COLUMN] == 0].reset_index(drop=True), first)
