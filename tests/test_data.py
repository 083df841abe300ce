"""Loading and validating labeled data: formats, columns, label maps, errors, splits, overlap."""

from __future__ import annotations

import json
import warnings
from collections import Counter

import pytest

from factsift.data import (
    Columns,
    DataError,
    LabeledData,
    check_known_labels,
    count_overlap,
    load_data,
    stratified_split,
)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def write_jsonl(path, rows):
    return write(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


# ---- formats ---------------------------------------------------------------------------------
def test_csv_with_custom_columns_context_and_quoted_newline(tmp_path):
    path = write(tmp_path / "data.csv", (
        "sentence,gold,prev,next\n"
        'Exports rose.,fact,,"It said so."\n'
        '"“We won,” she said, ""twice"".",quotation,Exports rose.,\n'
        '"A line\nthat wraps.",opinion,a,b\n'
        "Last one.,fact,,\n"
    ))
    data = load_data(path, Columns(text="sentence", label="gold", context_before="prev", context_after="next"))
    assert data.texts == ["Exports rose.", '“We won,” she said, "twice".', "A line\nthat wraps.", "Last one."]
    assert data.labels == ["fact", "quotation", "opinion", "fact"]
    assert data.context_before == ["", "Exports rose.", "a", ""]
    assert data.context_after == ["It said so.", "", "b", ""]
    # each row is located at the line where its record starts (the wrapped record spans 4-5)
    assert data.origins == [f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:6"]


def test_tsv_reads_quote_marks_verbatim(tmp_path):
    path = write(tmp_path / "data.tsv", (
        "text\tlabel\n"
        '"We will win," he said.\tquotation\n'
        'The so-called "plan" is a joke.\topinion\n'
        '"Unbalanced quote at start\tfact\n'
    ))
    data = load_data(path)
    assert data.texts == ['"We will win," he said.', 'The so-called "plan" is a joke.', '"Unbalanced quote at start']
    assert data.labels == ["quotation", "opinion", "fact"]


def test_jsonl_keeps_unicode_line_separators_inside_a_row(tmp_path):
    text = "First part\u2028second part\x85third."  # str.splitlines() would split this row three ways
    path = write_jsonl(tmp_path / "data.jsonl", [{"text": text, "label": "fact"}, {"text": "B.", "label": "opinion"}])
    data = load_data(path)
    assert data.texts == [text, "B."]
    assert data.origins == [f"{path}:1", f"{path}:2"]


def test_json_array_file(tmp_path):
    path = write(tmp_path / "data.json", json.dumps([{"text": "A.", "label": "fact"}, {"text": "B.", "label": "SUBJ"}]))
    data = load_data(path)
    assert data.labels == ["fact", "SUBJ"]


def test_parquet(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pyarrow.table({"text": ["A.", "B.", "C."], "label": ["OBJ", "SUBJ", "OBJ"]}), path)
    data = load_data(path, label_map={"OBJ": "fact", "SUBJ": "opinion"})
    assert data.texts == ["A.", "B.", "C."]
    assert data.labels == ["fact", "opinion", "fact"]
    assert data.origins[1] == f"{path}: row 2"


def test_dataset_and_datasetdict_with_classlabel_names():
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({
        "sentence": datasets.Value("string"), "label": datasets.ClassLabel(names=["OBJ", "SUBJ"]),
    })
    train = datasets.Dataset.from_dict({"sentence": ["A.", "B.", "C."], "label": [0, 1, 1]}, features=features)
    dev = datasets.Dataset.from_dict({"sentence": ["D."], "label": [1]}, features=features)
    columns = Columns(text="sentence")

    data = load_data(train, columns)
    assert data.texts == ["A.", "B.", "C."]
    assert data.labels == ["OBJ", "SUBJ", "SUBJ"]  # names, not 0/1
    assert data.origins == ["dataset row 1", "dataset row 2", "dataset row 3"]

    both = datasets.DatasetDict({"train": train, "validation": dev})
    assert load_data(both, columns, label_map="OBJ=fact,SUBJ=opinion", split="validation").labels == ["opinion"]
    with pytest.raises(DataError, match="needs split="):
        load_data(both, columns)
    with pytest.raises(DataError, match="no split 'test'"):
        load_data(both, columns, split="test")


def test_labels_come_from_the_data(tmp_path):
    scheme = ["claim", "evidence", "rebuttal", "other"]
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": f"S{i}.", "label": scheme[i % 4]} for i in range(8)])
    data = load_data(path)
    assert data.label_counts() == {label: 2 for label in scheme}


def test_label_map_renames_and_accepts_a_string(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "A.", "label": "OBJ"}, {"text": "B.", "label": " SUBJ "}])
    assert load_data(path, label_map={"OBJ": "fact", "SUBJ": "opinion"}).labels == ["fact", "opinion"]
    assert load_data(path, label_map="OBJ=fact,SUBJ=opinion").labels == ["fact", "opinion"]


# ---- errors name the file, row and value -------------------------------------------------------
def test_missing_column_names_file_and_column(tmp_path):
    path = write(tmp_path / "d.csv", "body,label\nA.,fact\n")
    with pytest.raises(DataError, match=r"d\.csv: no column 'text' \(columns: body, label\)"):
        load_data(path)


def test_missing_column_in_a_later_jsonl_row(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "A.", "label": "fact"}, {"txt": "B.", "label": "fact"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: missing column 'text'"):
        load_data(path)


def test_explicit_context_column_must_exist(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nA.,fact\n")
    assert load_data(path).context_before == [""]  # default names may be absent
    with pytest.raises(DataError, match="no column 'left'"):
        load_data(path, Columns(context_before="left"))


def test_empty_text_names_the_row(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\nA.,fact\n   ,opinion\n")
    with pytest.raises(DataError, match=r"d\.csv:3: empty text in column 'text'"):
        load_data(path)


def test_null_text_in_jsonl_is_empty_text(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": None, "label": "fact"}])
    with pytest.raises(DataError, match=r"d\.jsonl:1: empty text"):
        load_data(path)


def test_unknown_label_under_a_label_map(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "A.", "label": "OBJ"}, {"text": "B.", "label": "NEUTRAL"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: label 'NEUTRAL' is not in the label map \(OBJ, SUBJ\)"):
        load_data(path, label_map={"OBJ": "fact", "SUBJ": "opinion"})


def test_bad_label_map_string():
    with pytest.raises(ValueError, match="not of the form SOURCE=TARGET"):
        load_data("unused.jsonl", label_map="OBJ:fact")


def test_invalid_utf8_names_line_and_column(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nfine,fact\nbad \xff byte,fact\n")
    with pytest.raises(DataError, match=r"d\.csv:3:5: invalid UTF-8 \(byte 0xff at byte offset 25\)"):
        load_data(path)


def test_bad_json_line_names_file_line_and_column(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "A.", "label": "fact"}\n\n{"text": "B.", "label": fact}\n')
    with pytest.raises(DataError, match=r"d\.jsonl:3:25: invalid JSON"):
        load_data(path)


def test_json_line_that_is_not_an_object(tmp_path):
    path = write(tmp_path / "d.jsonl", '["A.", "fact"]\n')
    with pytest.raises(DataError, match=r"d\.jsonl:1: expected a JSON object, got list"):
        load_data(path)


@pytest.mark.parametrize(
    ("row", "problem"), [("A.,fact,extra", "3 fields, more than the 2"), ("A.", "missing column 'label'")]
)
def test_csv_row_with_wrong_field_count(tmp_path, row, problem):
    path = write(tmp_path / "d.csv", f"text,label\nok,fact\n{row}\n")
    with pytest.raises(DataError, match=rf"d\.csv:3: {problem}"):
        load_data(path)


def test_file_problems(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_data(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="unsupported file type '.txt'"):
        load_data(write(tmp_path / "d.txt", "x"))
    with pytest.raises(DataError, match="no rows"):
        load_data(write(tmp_path / "d.csv", "text,label\n"))
    with pytest.raises(DataError, match="expected a file path or a datasets.Dataset, got list"):
        load_data([{"text": "A.", "label": "fact"}])


def test_non_text_cell(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": ["A."], "label": "fact"}])
    with pytest.raises(DataError, match=r"d\.jsonl:1: column 'text' holds list"):
        load_data(path)


def test_check_known_labels_names_the_row(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "A.", "label": "fact"}, {"text": "B.", "label": "rumour"}])
    with pytest.raises(DataError, match=r"d\.jsonl:2: label 'rumour' is unknown to the model"):
        check_known_labels(load_data(path), ["fact", "opinion"])


# ---- splits and overlap ----------------------------------------------------------------------
def make_data(counts: dict[str, int]) -> LabeledData:
    texts, labels = [], []
    for label, n in counts.items():
        texts += [f"{label} sentence {i}." for i in range(n)]
        labels += [label] * n
    empty = [""] * len(texts)
    return LabeledData(texts, labels, empty, list(empty), [f"f.csv:{i + 2}" for i in range(len(texts))])


def test_stratified_split_keeps_proportions_and_is_reproducible():
    data = make_data({"fact": 40, "quotation": 20, "opinion": 20})
    train, dev = stratified_split(data, 0.25, seed=3)
    assert len(dev) == 20 and len(train) == 60
    assert Counter(dev.labels) == {"fact": 10, "quotation": 5, "opinion": 5}
    assert sorted(train.texts + dev.texts) == sorted(data.texts)
    again_train, again_dev = stratified_split(data, 0.25, seed=3)
    assert again_dev.texts == dev.texts and again_train.texts == train.texts
    assert stratified_split(data, 0.25, seed=4)[1].texts != dev.texts
    assert all(data.origins[data.texts.index(t)] == o for t, o in zip(dev.texts, dev.origins))


def test_split_puts_every_label_in_dev_even_when_rare():
    train, dev = stratified_split(make_data({"fact": 30, "opinion": 2}), 0.1, seed=0)
    assert set(dev.labels) == {"fact", "opinion"}
    assert set(train.labels) == {"fact", "opinion"}


def test_too_few_to_split_names_label_and_row():
    data = make_data({"fact": 5, "opinion": 5, "quotation": 1})
    with pytest.raises(DataError, match=r"label 'quotation' has 1 example \(f\.csv:12\)"):
        stratified_split(data, 0.2, seed=0)


@pytest.mark.parametrize("fraction", [0.01, 0.99])
def test_split_keeps_a_row_of_each_label_on_both_sides_at_extreme_fractions(fraction):
    train, dev = stratified_split(make_data({"fact": 2, "opinion": 9}), fraction, seed=0)
    assert set(train.labels) == set(dev.labels) == {"fact", "opinion"}


def test_bad_dev_fraction():
    with pytest.raises(ValueError, match="dev_fraction must be between 0 and 1, got 1.5"):
        stratified_split(make_data({"fact": 4}), 1.5, seed=0)


def test_overlap_warns_and_counts_whitespace_normalised():
    train = make_data({"fact": 5})
    dev = LabeledData(
        ["fact  sentence 1.", "fact sentence 3.\n", "new one."], ["fact"] * 3, [""] * 3, [""] * 3, ["d"] * 3
    )
    with pytest.warns(UserWarning, match="2 of 3 dev sentences also occur in the training data"):
        assert count_overlap(train, dev) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert count_overlap(train, make_data({"other": 2})) == 0


def test_sentence_column_is_used_when_there_is_no_text_column(tmp_path):
    path = tmp_path / "subj.tsv"
    path.write_text('sentence_id\tsentence\tlabel\n1\tHe said "no".\tOBJ\n2\tA bad idea.\tSUBJ\n', encoding="utf-8")
    data = load_data(path, label_map={"OBJ": "fact", "SUBJ": "opinion"})
    assert data.texts == ['He said "no".', "A bad idea."]
    assert data.labels == ["fact", "opinion"]


def test_an_explicit_text_column_has_no_fallback(tmp_path):
    path = tmp_path / "subj.tsv"
    path.write_text("sentence\tlabel\nA bad idea.\tSUBJ\n", encoding="utf-8")
    with pytest.raises(DataError, match="no column 'body'"):
        load_data(path, Columns(text="body"))


def test_tsv_rows_missing_an_unused_trailing_column_are_read(tmp_path):
    path = write(tmp_path / "d.tsv", "id\ttext\tlabel\tnote\n1\tA.\tfact\tchecked\n2\tB.\topinion\n")
    assert load_data(path).labels == ["fact", "opinion"]


# ---- hardening (issue 11) ----------------------------------------------------------------------
def test_tsv_written_with_standard_quoting_is_unquoted(tmp_path):
    import csv
    import io

    rows = [["text", "label"], ['He said "we will win" today.', "quotation"], ["Tabs\tand\nnewlines.", "fact"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t").writerows(rows)  # what pandas.to_csv(sep="\t") writes too
    path = write(tmp_path / "quoted.tsv", buffer.getvalue())
    data = load_data(path)
    assert data.texts == ['He said "we will win" today.', "Tabs\tand\nnewlines."]
    assert data.labels == ["quotation", "fact"]


def test_training_needs_two_labels_each_in_train_and_dev():
    from factsift.data import check_label_counts

    def data(labels):
        return LabeledData([f"S{i}." for i in range(len(labels))], list(labels), [""] * len(labels),
                           [""] * len(labels), [f"f:{i}" for i in range(len(labels))])

    with pytest.raises(DataError, match=r"at least 2 labels.*only one label: 'fact' \(4\)"):
        check_label_counts(data(["fact"] * 4), data(["fact"]))
    with pytest.raises(DataError, match=r"'opinion' has 1 training and 1 dev example"):
        check_label_counts(data(["fact", "fact", "opinion"]), data(["fact", "opinion"]))
    with pytest.raises(DataError, match=r"'opinion' has 2 training and 0 dev example"):
        check_label_counts(data(["fact", "fact", "opinion", "opinion"]), data(["fact"]))
    check_label_counts(data(["fact", "fact", "opinion", "opinion"]), data(["fact", "opinion"]))
