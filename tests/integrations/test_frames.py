"""label_frame (pandas) and Classifier.label_dataset (🤗 datasets): one row per sentence."""

from __future__ import annotations

import datasets
import pandas as pd
import pytest

import factsift
from factsift.writers import sentence_records

COUNCIL = ("The council voted 7-2 to close the library. “We had no choice,” the mayor said. "
           "It is a shameful decision.")
TEXTS = [COUNCIL, "", "Prices rose 3% in May. This is a disaster.\n\nThe vote is on Sunday."]
SENTENCE_COLUMNS = ["sentence_index", "paragraph", "start", "end", "text", "label", "score", "scores"]


def expected_rows(classifier, ids, texts):
    """The JSONL records of ``texts``, labelled one document at a time."""
    return [record for doc_id, text in zip(ids, texts) for record in sentence_records(doc_id, classifier.label_text(text))]


def approx_rows(rows):
    """Rows with scores compared to 1e-5 (batch-mates may move the last float digits)."""
    return [
        {**row, "score": pytest.approx(row["score"], abs=1e-5), "scores": pytest.approx(row["scores"], abs=1e-5)}
        for row in rows
    ]


@pytest.fixture
def frame():
    return pd.DataFrame({"id": pd.Series([7, 3, 11], dtype="int32"), "text": TEXTS, "source": ["a", "b", "c"]})


def test_label_frame_gives_the_jsonl_records_one_row_per_sentence(frame, varied_classifier):
    labels = factsift.label_frame(frame, model=varied_classifier)
    assert list(labels.columns) == ["id", *SENTENCE_COLUMNS]
    rows = [{"doc_id": row.pop("id"), **row} for row in labels.to_dict("records")]
    assert rows == approx_rows(expected_rows(varied_classifier, [7, 3, 11], TEXTS))
    assert list(labels["id"]) == [7, 7, 7, 11, 11, 11]


@pytest.mark.parametrize("dtype", ["int32", "string", "category", "Int64"])
def test_label_frame_keeps_the_id_dtype_so_labels_join_back(frame, tiny_classifier, dtype):
    frame["id"] = frame["id"].astype(dtype)
    labels = factsift.label_frame(frame, model=tiny_classifier)
    assert labels["id"].dtype == frame["id"].dtype
    joined = frame.merge(labels, on="id", suffixes=("_document", ""))
    assert list(joined["source"]) == ["a"] * 3 + ["c"] * 3


def test_label_frame_without_an_id_column_uses_the_index(frame, tiny_classifier):
    labels = factsift.label_frame(frame.set_index("source"), id=None, model=tiny_classifier)
    assert list(labels.columns) == ["doc_id", *SENTENCE_COLUMNS]
    assert list(labels["doc_id"]) == ["a"] * 3 + ["c"] * 3


def test_label_frame_takes_a_model_directory_and_other_column_names(tiny_model_dir, tiny_classifier):
    frame = pd.DataFrame({"body": TEXTS, "url": ["u1", "u2", "u3"]})
    labels = factsift.label_frame(frame, text="body", id="url", model=str(tiny_model_dir))
    assert list(labels["url"]) == ["u1"] * 3 + ["u3"] * 3
    assert list(labels["label"]) == [row["label"] for row in expected_rows(tiny_classifier, "123", TEXTS)]


def test_label_frame_of_an_empty_frame_has_the_columns_and_id_dtype(frame, tiny_classifier):
    labels = factsift.label_frame(frame.iloc[:0], model=tiny_classifier)
    assert list(labels.columns) == ["id", *SENTENCE_COLUMNS] and len(labels) == 0
    assert labels["id"].dtype == "int32"


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"text": "body"}, "text column 'body' not found; the columns are id, text, source"),
        ({"id": "url"}, "id column 'url' not found; the columns are id, text, source"),
    ],
)
def test_label_frame_names_a_missing_column(frame, tiny_classifier, columns, message):
    with pytest.raises(ValueError, match=message):
        factsift.label_frame(frame, model=tiny_classifier, **columns)


def test_label_frame_names_the_document_with_a_missing_text(frame, tiny_classifier):
    frame.loc[1, "text"] = None
    with pytest.raises(TypeError, match="column 'text', document 3: expected a str, got (None|nan)"):
        factsift.label_frame(frame, model=tiny_classifier)


def test_label_frame_refuses_an_id_column_named_like_a_sentence_column(frame, tiny_classifier):
    with pytest.raises(ValueError, match="id column 'label' clashes with a sentence column"):
        factsift.label_frame(frame.rename(columns={"id": "label"}), id="label", model=tiny_classifier)


def test_label_dataset_gives_the_rows_of_label_frame_and_keeps_the_id_feature(frame, varied_classifier):
    ds = datasets.Dataset.from_pandas(frame, preserve_index=False)
    labelled = varied_classifier.label_dataset(ds, id_column="id")
    assert isinstance(labelled, datasets.Dataset)
    assert labelled.column_names == ["id", *SENTENCE_COLUMNS]
    assert labelled.features["id"] == datasets.Value("int32")
    assert labelled.to_list() == approx_rows(
        factsift.label_frame(frame, model=varied_classifier).to_dict("records")
    )


def test_label_dataset_without_an_id_column_numbers_the_rows(tiny_classifier):
    labelled = tiny_classifier.label_dataset(datasets.Dataset.from_dict({"text": TEXTS}))
    assert labelled.column_names == ["doc_id", *SENTENCE_COLUMNS]
    assert labelled["doc_id"] == [0, 0, 0, 2, 2, 2]


def test_label_dataset_streams_an_iterable_dataset(frame, tiny_classifier):
    ds = datasets.Dataset.from_pandas(frame, preserve_index=False)
    streamed = tiny_classifier.label_dataset(ds.to_iterable_dataset(num_shards=2), id_column="id")
    assert isinstance(streamed, datasets.IterableDataset)
    assert list(streamed) == approx_rows(tiny_classifier.label_dataset(ds, id_column="id").to_list())


def test_label_dataset_streams_a_generator_of_unknown_columns(tiny_classifier):
    def documents():
        yield from ({"body": text, "url": f"u{i}"} for i, text in enumerate(TEXTS))

    ds = datasets.IterableDataset.from_generator(documents)
    streamed = tiny_classifier.label_dataset(ds, text_column="body", id_column="url")
    assert [row["url"] for row in streamed] == ["u0"] * 3 + ["u2"] * 3


def test_label_dataset_names_a_missing_column(tiny_classifier):
    with pytest.raises(ValueError, match="text column 'text' not found; the columns are body"):
        tiny_classifier.label_dataset(datasets.Dataset.from_dict({"body": TEXTS}))


@pytest.mark.shipped
def test_the_shipped_model_labels_the_council_example_in_a_frame():
    labels = factsift.label_frame(pd.DataFrame({"id": ["council"], "text": [COUNCIL]}))
    assert list(labels["text"]) == [
        "The council voted 7-2 to close the library.", "“We had no choice,” the mayor said.", "It is a shameful decision.",
    ]
    assert list(labels["label"]) == ["fact", "quotation", "opinion"]


@pytest.mark.shipped
def test_the_shipped_model_labels_the_council_example_in_a_dataset():
    ds = datasets.Dataset.from_dict({"id": ["council"], "text": [COUNCIL]})
    labelled = factsift.Classifier.from_pretrained(device="cpu").label_dataset(ds, id_column="id")
    assert labelled["label"] == ["fact", "quotation", "opinion"]
