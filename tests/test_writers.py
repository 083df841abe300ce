"""Output writers: record shapes, resumable JSONL/CSV files, the HTML page."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pytest

from factsift.documents import Document
from factsift.results import LabeledSentence
from factsift.segment import split_sentences
from factsift.writers import COLUMNS, check_target, open_writer, partial_path, sentence_records

LABELS = ["fact", "quotation", "opinion"]


def labelled(text: str) -> list[LabeledSentence]:
    """Sentences of ``text`` with made-up labels cycling through LABELS (no model needed)."""
    result = []
    for index, sentence in enumerate(split_sentences(text)):
        label = LABELS[index % 3]
        scores = {name: 0.8 if name == label else 0.1 for name in LABELS}
        result.append(LabeledSentence(sentence.text, sentence.start, sentence.end, label, 0.8, scores,
                                      sentence.paragraph))
    return result


DOCS = [
    Document(f"doc{i}", f"Sentence one of {i}. “Quoted two,” she said.\n\nPara two of {i}, line\nwrapped.", f"s{i}")
    for i in range(5)
]


def write_all(fmt: str, output: Path | None, docs=DOCS, overwrite: bool = False) -> None:
    with open_writer(fmt, LABELS, output, overwrite) as writer:
        for doc in docs:
            if doc.id not in writer.done:
                writer.write(doc, labelled(doc.text))


def jsonl_ids(path: Path) -> list[str]:
    return [json.loads(line)["doc_id"] for line in path.read_text(encoding="utf-8").splitlines()]


def csv_ids(path: Path) -> list[str]:
    with path.open(encoding="utf-8", newline="") as stream:
        return [row["doc_id"] for row in csv.DictReader(stream)]


IDS = {"jsonl": jsonl_ids, "csv": csv_ids}
SENTENCES_PER_DOC = len(labelled(DOCS[0].text))


def test_sentence_records_point_into_the_text():
    text = DOCS[0].text
    records = sentence_records("d", labelled(text))
    assert [r["sentence_index"] for r in records] == list(range(len(records)))
    assert list(records[0]) == ["doc_id", "sentence_index", "paragraph", "start", "end", "text", "label", "score",
                                "scores"]
    assert all(text[r["start"] : r["end"]] == r["text"] for r in records)
    assert [r["paragraph"] for r in records] == [0, 0, 1]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_file_output_is_built_in_partial_and_renamed(tmp_path, fmt):
    output = tmp_path / "sub" / f"out.{fmt}"
    write_all(fmt, output)
    assert output.is_file() and not partial_path(output).exists()
    assert IDS[fmt](output) == [doc.id for doc in DOCS for _ in range(SENTENCES_PER_DOC)]


def test_csv_has_a_score_column_per_label_and_keeps_newlines(tmp_path):
    output = tmp_path / "out.csv"
    write_all("csv", output, DOCS[:1])
    with output.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == COLUMNS + ["score_fact", "score_quotation", "score_opinion"]
    text = DOCS[0].text
    assert all(text[int(row["start"]) : int(row["end"])] == row["text"] for row in rows)
    assert "\n" in rows[-1]["text"]
    assert float(rows[0]["score_fact"]) == 0.8


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks on Windows")
def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path):
    output = tmp_path / "out.jsonl"
    with open_writer("jsonl", LABELS, output) as writer:
        writer.write(DOCS[0], labelled(DOCS[0].text))
        before = partial_path(output).read_bytes()
        with pytest.raises(BlockingIOError, match=r"out\.jsonl\.partial is being written by another factsift run"):
            with open_writer("jsonl", LABELS, output):
                pass
        assert partial_path(output).read_bytes() == before  # the second run did not touch it
        writer.write(DOCS[1], labelled(DOCS[1].text))
    assert IDS["jsonl"](output) == ["doc0"] * SENTENCES_PER_DOC + ["doc1"] * SENTENCES_PER_DOC


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_failed_run_keeps_partial_and_rerun_completes_without_duplicates(tmp_path, fmt):
    output = tmp_path / f"out.{fmt}"
    with pytest.raises(KeyboardInterrupt):
        with open_writer(fmt, LABELS, output) as writer:
            for doc in DOCS[:3]:
                writer.write(doc, labelled(doc.text))
            raise KeyboardInterrupt
    assert not output.exists()
    assert set(IDS[fmt](partial_path(output))) == {"doc0", "doc1", "doc2"}
    with open_writer(fmt, LABELS, output) as writer:
        # the last document of the partial file is written again: it may have been cut between lines
        assert writer.done == {"doc0", "doc1"}
        for doc in DOCS:
            if doc.id not in writer.done:
                writer.write(doc, labelled(doc.text))
    assert IDS[fmt](output) == [doc.id for doc in DOCS for _ in range(SENTENCES_PER_DOC)]


CUTS = {
    "last byte": lambda data: len(data) - 1,
    "mid line": lambda data: len(data) - 20,
    "at a line end": lambda data: data.rindex(b"\n", 0, len(data) - 1) + 1,
    "in a quoted CSV field, at its newline": lambda data: data.rindex(b"line\n") + 5,
}


@pytest.mark.parametrize(
    ("fmt", "cut"), [(fmt, cut) for fmt in ("jsonl", "csv") for cut in CUTS if fmt == "csv" or "CSV" not in cut]
)
def test_a_crash_cut_tail_is_rewritten_on_resume(tmp_path, fmt, cut):
    output = tmp_path / f"out.{fmt}"
    write_all(fmt, output)
    complete = output.read_bytes()
    output.rename(partial_path(output))
    partial_path(output).write_bytes(complete[: CUTS[cut](complete)])
    write_all(fmt, output)
    assert output.read_bytes() == complete


def test_resume_of_a_header_only_csv(tmp_path):
    output = tmp_path / "out.csv"
    partial_path(output).write_text(",".join(COLUMNS)[:10], encoding="utf-8")  # header cut off
    write_all("csv", output, DOCS[:1])
    assert csv_ids(output) == ["doc0"] * SENTENCES_PER_DOC


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("jsonl", '{"doc_id": "a", "scores": {"fact": 1}}\n{"doc_id": "b"', "with this model's labels"),
        ("jsonl", "not json\n", "out.jsonl.partial:1: not a factsift record"),
        ("csv", "doc_id,text\n", "differ from this model's"),
        ("csv", ",".join(COLUMNS + ["score_fact", "score_quotation", "score_opinion"]) + "\nonly,three,fields\n",
         "out.csv.partial:2: 3 fields"),
    ],
)
def test_a_foreign_or_damaged_partial_file_is_an_error(tmp_path, fmt, content, message):
    output = tmp_path / f"out.{fmt}"
    partial_path(output).write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        write_all(fmt, output)
    assert partial_path(output).read_text(encoding="utf-8") == content


def test_a_document_in_two_places_is_an_error(tmp_path):
    output = tmp_path / "out.jsonl"
    records = [sentence_records(doc, labelled("One. Two."))[0] for doc in ("a", "b", "a", "c")]
    partial_path(output).write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(ValueError, match="document 'a' appears in two places"):
        write_all("jsonl", output)


def test_a_failure_before_any_document_leaves_no_file(tmp_path):
    output = tmp_path / "out.csv"
    with pytest.raises(RuntimeError):
        with open_writer("csv", LABELS, output):
            raise RuntimeError("model failed")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite(tmp_path):
    output = tmp_path / "out.jsonl"
    output.write_text("old\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="out.jsonl exists; pass --overwrite"):
        write_all("jsonl", output)
    assert output.read_text(encoding="utf-8") == "old\n"
    write_all("jsonl", output, overwrite=True)
    assert len(jsonl_ids(output)) == len(DOCS) * SENTENCES_PER_DOC
    with pytest.raises(IsADirectoryError):
        check_target(tmp_path, overwrite=True)


def test_stdout_writer_streams_records(capsys):
    write_all("jsonl", None, DOCS[:2])
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["doc_id"] for line in lines] == ["doc0"] * SENTENCES_PER_DOC + ["doc1"] * SENTENCES_PER_DOC


def test_html_page_escapes_everything_and_summarises_each_document(tmp_path):
    output = tmp_path / "page.html"
    text = 'Tom & Jerry <b>fight</b>. “Stop,” she said. It is "absurd" & sad.'
    docs = [Document('<doc "1">', text, "x"), Document("empty", "", "y")]
    write_all("html", output, docs)
    page = output.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<b>" not in page and "&lt;b&gt;fight&lt;/b&gt;" in page
    assert "&lt;doc &quot;1&quot;&gt;" in page
    sentences = labelled(text)
    for sentence in sentences:
        escaped = sentence.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        assert f'title="{sentence.label} 0.80 (fact' in page and f">{escaped}</span>" in page
    assert page.count('<table class="summary">') == 2
    assert "<td>1</td><td>33%</td>" in page  # one sentence of each label in the first document
    assert "<tr><th>total</th><th>3</th>" in page and "<tr><th>total</th><th>0</th>" in page
    assert '<p class="legend"><span class="l0">fact</span>' in page
    assert "<script" not in page and "http" not in page


def test_html_is_not_written_when_the_run_fails(tmp_path):
    output = tmp_path / "page.html"
    with pytest.raises(ValueError):
        with open_writer("html", LABELS, output) as writer:
            writer.write(DOCS[0], labelled(DOCS[0].text))
            raise ValueError("bad document")
    assert list(tmp_path.iterdir()) == []


def test_unknown_format():
    with pytest.raises(ValueError, match="format must be one of jsonl, csv, html, got 'xml'"):
        with open_writer("xml", LABELS):
            pass
