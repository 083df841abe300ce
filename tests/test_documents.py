"""Reading input documents: files, folders, stdin, JSONL and CSV records, and bad input."""

from __future__ import annotations

import csv
import io
import json
import sys

import pytest

from factsift.documents import STDIN_ID, Document, iter_documents
from factsift.inputs import DEFAULT_MAX_CHARS


def write(path, content: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def test_text_file_id_is_the_path_as_given_and_text_is_exact(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "a.md", "\ufeffFirst line.\r\nSecond “line”.\n")  # the BOM is kept: offsets count it
    assert list(iter_documents(["a.md"])) == [Document("a.md", "\ufeffFirst line.\r\nSecond “line”.\n", "a.md")]


def test_folder_is_searched_recursively_in_sorted_order_with_relative_ids(tmp_path):
    for name in ["b.txt", "a/z.txt", "a/b/c.txt", "notes.md", "a/skip.csv"]:
        write(tmp_path / "in" / name, f"Text of {name}.")
    documents = list(iter_documents([tmp_path / "in"]))
    assert [d.id for d in documents] == ["a/b/c.txt", "a/z.txt", "b.txt"]
    assert documents[1].text == "Text of a/z.txt."
    assert [d.id for d in iter_documents([tmp_path / "in"], glob="*.md")] == ["notes.md"]


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Read “this”.".encode())))
    assert list(iter_documents(["-"])) == [Document(STDIN_ID, "Read “this”.", STDIN_ID)]


def test_empty_file_is_an_empty_document(tmp_path):
    path = write(tmp_path / "empty.txt", "")
    assert [d.text for d in iter_documents([path])] == [""]


def test_jsonl_records_with_fields_and_fallback_ids(tmp_path):
    rows = [{"key": 7, "body": "One."}, {"body": "Two."}, {"key": "x", "body": ""}, {"key": None, "body": "Four."}]
    lines = [json.dumps(row) for row in rows]
    path = write(tmp_path / "d.jsonl", "\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]))  # a blank line 3
    documents = list(iter_documents([path], text_field="body", id_field="key"))
    assert [(d.id, d.text) for d in documents] == [
        ("7", "One."), (f"{path}:2", "Two."), ("x", ""), (f"{path}:5", "Four."),
    ]
    assert documents[0].source == f"{path}:1"


def test_csv_records_with_bom_quoted_newlines_and_fallback_ids(tmp_path):
    path = write(tmp_path / "d.csv", '\ufeffdoc,body,extra\n1,"Para one.\n\nPara two.",x\n\n,"Second, doc.",y\n')
    documents = list(iter_documents([path], text_field="body", id_field="doc"))
    assert [(d.id, d.text) for d in documents] == [("1", "Para one.\n\nPara two."), (f"{path}:6", "Second, doc.")]


def test_records_are_streamed(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "Fine."}\n{"text": "Fine too."}\nnot json\n')
    documents = iter_documents([path])
    assert next(documents).text == "Fine."
    assert next(documents).text == "Fine too."
    with pytest.raises(ValueError, match="d.jsonl:3:1: invalid JSON"):
        next(documents)


def test_missing_paths_fail_before_anything_is_read(tmp_path):
    good = write(tmp_path / "good.txt", "Fine.")
    with pytest.raises(FileNotFoundError, match="nope.txt: no such file or folder"):
        iter_documents([good, tmp_path / "nope.txt"])


BAD_INPUTS = [  # file name, content, iter_documents arguments, error message (a regex)
    ("bad.txt", b"Fine line.\nCaf\xe9 au lait.\n", {},
     r"bad.txt:2:4: invalid UTF-8 \(byte 0xe9 at byte offset 14\)"),
    ("img.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", {}, r"img.png: looks binary, not text: byte 0x1a on line 2"),
    ("nul.txt", b"Text\x00with a NUL", {}, r"nul.txt: looks binary, not text: byte 0x00 on line 1 \(byte offset 4\)"),
    ("page.html", "<html><body><p>News.</p></body></html>", {}, r"page.html: line 1 holds HTML markup '<html'"),
    ("long.txt", "Word. " * 10, {"max_chars": 20},
     r"long.txt: text has 60 characters, over the limit of 20.*--max-chars"),
    ("huge.txt", "Word. " * 1000, {"max_chars": 100},
     r"huge.txt: text is over the limit of 100 characters.*--max-chars"),
    ("d.jsonl", '{"text": "ok"}\n{"txt": "x", "id": 3}\n', {},
     r"d.jsonl:2: no text field 'text' \(fields present: 'txt', 'id'; see --text-field\)"),
    ("d.jsonl", '{"text": ["a", "list"]}\n', {},
     r"d.jsonl:1: field 'text' holds list \['a', 'list'\], expected a string"),
    ("d.jsonl", '{"text": null}\n', {}, r"d.jsonl:1: no text field 'text' \(fields present: none"),
    ("d.jsonl", '{"text": "ok", "id": 1.5}\n', {},
     r"d.jsonl:1: id field 'id' holds float 1.5, expected a string or an integer"),
    ("d.jsonl", '{"text": "ok"}\n{"text": "x",}\n', {}, r"d.jsonl:2:14: invalid JSON: Expecting property name"),
    ("d.jsonl", '["text"]\n', {}, r"d.jsonl:1: expected a JSON object, got list"),
    ("d.jsonl", '{"text": "<div><p>x</p></div>"}\n', {}, r"d.jsonl:1: field 'text': line 1 holds HTML markup '<div'"),
    ("d.jsonl", '{"text": "bell \\u0007"}\n', {}, r"d.jsonl:1: field 'text': line 1 holds control character"),
    ("d.jsonl", b'{"text": "ok"}\n{"text": "\xff"}\n', {},
     r"d.jsonl:2:11: invalid UTF-8 \(byte 0xff at byte offset 25\)"),
    ("d.csv", "id,body\n1,x\n", {}, r"d.csv:2: no text field 'text' \(fields present: 'id', 'body'"),
    ("d.csv", 'id,text\n1,"open\n', {}, r"d.csv:2: malformed CSV: unexpected end of data"),
    ("d.csv", "id,text\n1,a,b\n", {}, r"d.csv:2: 3 fields, more than the header's 2"),
]


@pytest.mark.parametrize(("name", "content", "kwargs", "message"), BAD_INPUTS)
def test_bad_input_names_file_line_and_value(tmp_path, name, content, kwargs, message):
    path = write(tmp_path / name, content)
    with pytest.raises(ValueError, match=message):
        list(iter_documents([path], **kwargs))


def test_five_megabytes_is_over_the_default_limit(tmp_path):
    path = write(tmp_path / "big.txt", "This is a sentence. " * 250_000)
    with pytest.raises(ValueError, match=f"over the limit of {DEFAULT_MAX_CHARS:,}.*--max-chars"):
        list(iter_documents([path]))
    assert len(next(iter_documents([path], max_chars=6_000_000)).text) == 5_000_000


def test_folder_without_matching_files(tmp_path):
    write(tmp_path / "in" / "a.md", "Text.")
    with pytest.raises(FileNotFoundError, match=r"in: no files matching '\*.txt'.*--glob"):
        iter_documents([tmp_path / "in"])


def test_duplicate_ids_name_both_sources(tmp_path):
    first = write(tmp_path / "a.jsonl", '{"id": "x", "text": "One."}\n')
    second = write(tmp_path / "b.csv", "id,text\ny,Two.\nx,Three.\n")
    with pytest.raises(ValueError, match=f"document id 'x' is used twice: by {first}:1 and by {second}:3"):
        list(iter_documents([first, second]))


def test_same_relative_path_in_two_folders_is_a_collision(tmp_path):
    for folder in ("x", "y"):
        write(tmp_path / folder / "a.txt", "Text.")
    documents = iter_documents([tmp_path / "x", tmp_path / "y"])
    assert next(documents).id == "a.txt"
    first, second = tmp_path / "x" / "a.txt", tmp_path / "y" / "a.txt"
    with pytest.raises(ValueError, match=f"'a.txt' is used twice: by {first} and by {second}"):
        next(documents)


def test_records_found_in_a_folder_fall_back_to_relative_ids(tmp_path):
    write(tmp_path / "in" / "sub" / "d.jsonl", '{"text": "One."}\n')
    (document,) = iter_documents([tmp_path / "in"], glob="*.jsonl")
    assert (document.id, document.source) == ("sub/d.jsonl:1", f"{tmp_path / 'in' / 'sub' / 'd.jsonl'}:1")


# ---- hardening (issue 11) ----------------------------------------------------------------------
def test_tsv_and_json_array_files_are_records(tmp_path):
    tsv = write(tmp_path / "d.tsv", "id\ttext\nfirst\tOne. Two.\n\tThree.\n")
    assert [(d.id, d.text, d.source) for d in iter_documents([tsv])] == [
        ("first", "One. Two.", f"{tsv}:2"), (f"{tsv}:3", "Three.", f"{tsv}:3"),
    ]
    array = write(tmp_path / "d.json", json.dumps([{"key": "a", "body": "One."}, {"body": "Two."}]))
    assert [(d.id, d.text, d.source) for d in iter_documents([array], text_field="body", id_field="key")] == [
        ("a", "One.", f"{array}: item 1"), (f"{array}:2", "Two.", f"{array}: item 2"),
    ]
    lines = write(tmp_path / "lines.json", '{"text": "One."}\n{"text": "Two."}\n')  # .json may be JSON Lines
    assert [d.text for d in iter_documents([lines])] == ["One.", "Two."]
    with pytest.raises(ValueError, match=r"d2.json: item 2: expected a JSON object, got str"):
        list(iter_documents([write(tmp_path / "d2.json", '[{"text": "a"}, "b"]')]))


def test_tsv_with_standard_quoting_and_without_both_read_as_written(tmp_path):
    sentence = 'He said "we will win" today.'
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator="\n").writerows([["id", "text"], ["q", sentence]])
    quoted = write(tmp_path / "quoted.tsv", buffer.getvalue())  # "He said ""we will win"" today."
    assert '""we will win""' in quoted.read_text(encoding="utf-8")
    assert [d.text for d in iter_documents([quoted])] == [sentence]
    plain = write(tmp_path / "plain.tsv", f'id\ttext\nq\t{sentence}\nr\t"Go," she said.\n')
    assert [d.text for d in iter_documents([plain])] == [sentence, '"Go," she said.']


def test_field_options_with_plain_text_inputs_are_an_error(tmp_path):
    text = write(tmp_path / "a.txt", "Plain.")
    records = write(tmp_path / "d.jsonl", '{"body": "x"}\n')
    with pytest.raises(ValueError, match=r"a.txt: plain text has no fields, so --text-field 'body' cannot apply"):
        iter_documents([records, text], text_field="body")
    with pytest.raises(ValueError, match=r"a.txt: plain text has no fields, so --id-field 'key' cannot apply"):
        iter_documents([text], id_field="key")


def test_a_single_path_instead_of_a_list_is_a_type_error(tmp_path):
    path = write(tmp_path / "a.txt", "Plain.")
    with pytest.raises(TypeError, match="paths must be a list of paths, got a single str"):
        iter_documents(str(path))


def test_offsets_of_a_file_with_a_bom_index_the_utf8_decoded_file(tmp_path):
    from factsift.segment import split_sentences

    path = write(tmp_path / "bom.txt", "\ufeffFirst one. Second one.")
    [document] = iter_documents([path])
    sentences = split_sentences(document.text)
    as_utf8 = path.read_text(encoding="utf-8")
    assert [as_utf8[s.start : s.end] for s in sentences] == ["First one.", "Second one."]
    as_utf8_sig = path.read_text(encoding="utf-8-sig")  # documented: one lower with the BOM dropped
    assert [as_utf8_sig[s.start - 1 : s.end - 1] for s in sentences] == ["First one.", "Second one."]
