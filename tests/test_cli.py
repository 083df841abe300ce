"""The factsift command line, run in-process with the tiny model (and once as a real subprocess)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from factsift import cli, model
from factsift.writers import partial_path

from conftest import EXAMPLE, LABELS

TEXT = EXAMPLE.read_text(encoding="utf-8")


@pytest.fixture
def loads(monkeypatch, tiny_classifier) -> list[tuple]:
    """Make every model load return the tiny classifier; records the arguments of each load."""
    calls = []

    def from_pretrained(path=None, device="auto", backend="auto", threads=None):
        calls.append((path, device, backend, threads))
        return tiny_classifier

    monkeypatch.setattr(cli.Classifier, "from_pretrained", from_pretrained)
    return calls


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, fragment: str) -> None:
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("factsift: error: "), err
    assert fragment in err, err


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_same_output(path: Path, reference: Path) -> None:
    """Same records in the same order; scores equal up to float noise from different batching."""
    def split(file: Path) -> tuple[list[dict], list[float]]:
        if file.suffix == ".csv":
            with file.open(encoding="utf-8", newline="") as stream:
                rows = list(csv.DictReader(stream))
        else:
            rows = read_jsonl(file)
            for row in rows:
                row.update({f"score_{label}": score for label, score in row.pop("scores").items()})
        fields = [{k: v for k, v in row.items() if not k.startswith("score")} for row in rows]
        scores = [float(v) for row in rows for k, v in row.items() if k.startswith("score")]
        return fields, scores

    (fields, scores), (expected_fields, expected_scores) = split(path), split(reference)
    assert fields == expected_fields
    assert scores == pytest.approx(expected_scores, abs=1e-5)


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path


# ---- label: formats ---------------------------------------------------------------------------
def test_jsonl_records_round_trip_and_match_the_library(capsys, tmp_path, loads, tiny_classifier):
    source = tmp_path / "article.txt"
    source.write_text(TEXT, encoding="utf-8")
    output = tmp_path / "out" / "labels.jsonl"
    code, out, err = run(capsys, "label", source, "--output", output, "--model", "some/model", "--device", "cpu",
                         "--backend", "torch", "--threads", "3", "--no-progress")
    assert code == 0 and out == ""
    assert loads == [("some/model", "cpu", "torch", 3)]
    assert f"wrote {output}" in err
    records = read_jsonl(output)
    expected = tiny_classifier.label_text(TEXT)
    assert len(records) == len(expected) > 10
    for index, (record, sentence) in enumerate(zip(records, expected)):
        assert list(record) == [
            "doc_id", "sentence_index", "paragraph", "start", "end", "text", "label", "score", "scores"
        ]
        assert record["doc_id"] == str(source) and record["sentence_index"] == index
        assert TEXT[record["start"] : record["end"]] == record["text"] == sentence.text
        assert record["paragraph"] == sentence.paragraph and record["label"] == sentence.label
        assert list(record["scores"]) == LABELS
        assert record["score"] == max(record["scores"].values()) == pytest.approx(sentence.score, abs=1e-5)
    assert not partial_path(output).exists()


def test_jsonl_goes_to_stdout_by_default(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("One fact. “A quote,” he said.", encoding="utf-8")
    code, out, err = run(capsys, "label", source, "--no-progress")
    assert code == 0 and err == ""
    assert [json.loads(line)["text"] for line in out.splitlines()] == ["One fact.", "“A quote,” he said."]


def test_stdout_is_utf8_whatever_the_locale(tmp_path, monkeypatch, loads):
    source = tmp_path / "a.txt"
    source.write_text("“Quoted,” she said.", encoding="utf-8")
    buffer = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(buffer, encoding="ascii"))
    assert cli.main(["label", str(source), "--no-progress"]) == 0
    sys.stdout.flush()
    assert json.loads(buffer.getvalue().decode("utf-8"))["text"] == "“Quoted,” she said."


def test_csv_output(capsys, tmp_path, loads, tiny_classifier):
    source = tmp_path / "a.txt"
    source.write_text(TEXT, encoding="utf-8")
    output = tmp_path / "labels.csv"
    assert run(capsys, "label", source, "--format", "csv", "-o", output, "--no-progress")[0] == 0
    with output.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == ["doc_id", "sentence_index", "paragraph", "start", "end", "text", "label", "score",
                                 "score_fact", "score_quotation", "score_opinion"]
    assert [row["label"] for row in rows] == [s.label for s in tiny_classifier.label_text(TEXT)]
    for row in rows:
        assert TEXT[int(row["start"]) : int(row["end"])] == row["text"]
        assert float(row["score"]) == max(float(row[f"score_{label}"]) for label in LABELS)


def test_html_output(capsys, tmp_path, loads, tiny_classifier):
    text = "Prices rose 5% & wages fell. “It’s a disaster,” she said.\n\nThis is absurd."
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a & b.txt").write_text(text, encoding="utf-8")
    (tmp_path / "in" / "empty.txt").write_text("", encoding="utf-8")
    output = tmp_path / "page.html"
    assert run(capsys, "label", tmp_path / "in", "--format", "html", "--output", output, "--no-progress")[0] == 0
    page = output.read_text(encoding="utf-8")
    assert "<h2>a &amp; b.txt</h2>" in page and "<h2>empty.txt</h2>" in page
    sentences = tiny_classifier.label_text(text)
    for sentence in sentences:
        escaped = sentence.text.replace("&", "&amp;")
        assert f'title="{sentence.label} {sentence.score:.2f} (fact ' in page and f">{escaped}</span>" in page
    assert f"<tr><th>total</th><th>{len(sentences)}</th>" in page and "<tr><th>total</th><th>0</th>" in page
    assert "<style>" in page and "<script" not in page and "src=" not in page


def test_html_to_stdout(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")
    code, out, _ = run(capsys, "label", source, "--format", "html", "--no-progress")
    assert code == 0 and out.startswith("<!DOCTYPE html>") and ">A sentence.</span>" in out


# ---- label: inputs ----------------------------------------------------------------------------
def test_stdin(capsys, monkeypatch, loads):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("From stdin. Two.".encode())))
    code, out, _ = run(capsys, "label", "-", "--no-progress")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["doc_id"], r["text"]) for r in records] == [("<stdin>", "From stdin."), ("<stdin>", "Two.")]


def test_folder_and_glob(capsys, tmp_path, loads):
    for name in ["b.md", "a/c.md", "a/skip.txt"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(f"Text of {name}.", encoding="utf-8")
    code, out, _ = run(capsys, "label", tmp_path, "--glob", "*.md", "--no-progress")
    assert code == 0 and [json.loads(line)["doc_id"] for line in out.splitlines()] == ["a/c.md", "b.md"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_record_files_with_text_and_id_fields(capsys, tmp_path, loads, suffix):
    rows = [{"key": "first", "body": "One. Two."}, {"key": "", "body": "Three."}]
    path = tmp_path / f"docs{suffix}"
    if suffix == ".jsonl":
        write_jsonl(path, rows)
    else:
        path.write_text("key,body\nfirst,One. Two.\n,Three.\n", encoding="utf-8")
    code, out, _ = run(capsys, "label", path, "--text-field", "body", "--id-field", "key", "--no-progress")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    line = 2 if suffix == ".jsonl" else 3  # the CSV header is line 1
    assert [(r["doc_id"], r["text"]) for r in records] == [
        ("first", "One."), ("first", "Two."), (f"{path}:{line}", "Three."),
    ]


def test_order_is_kept_across_many_documents_and_chunks(capsys, tmp_path, loads, monkeypatch):
    monkeypatch.setattr(model, "SENTENCES_PER_CHUNK", 7)  # many chunks of a few documents each
    rows = [{"id": f"d{i}", "text": " ".join(f"Doc {i} sentence {j}." for j in range(i % 5))} for i in range(40)]
    source = write_jsonl(tmp_path / "docs.jsonl", rows)
    code, out, _ = run(capsys, "label", source, "--batch-size", "3", "--no-progress")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [(r["doc_id"], r["text"]) for r in records] == [
        (f"d{i}", f"Doc {i} sentence {j}.") for i in range(40) for j in range(i % 5)
    ]


def test_progress_goes_to_stderr_only(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("One. Two.", encoding="utf-8")
    code, out, err = run(capsys, "label", source)
    assert code == 0 and "labelling" in err and "1doc" in err.replace(" ", "") and "sentences=2" in err
    assert len(out.splitlines()) == 2


# ---- label: resume and overwrite --------------------------------------------------------------
@pytest.fixture
def corpus(tmp_path) -> tuple[Path, list[str]]:
    rows = [{"id": f"d{i}", "text": f"Doc {i} starts. “Quote {i},” he said.\n\nIt is bad."} for i in range(12)]
    return write_jsonl(tmp_path / "docs.jsonl", rows), [row["id"] for row in rows]


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_interrupted_run_resumes_without_duplicates(capsys, tmp_path, loads, monkeypatch, corpus, fmt):
    source, ids = corpus
    output = tmp_path / f"out.{fmt}"
    reference = tmp_path / f"reference.{fmt}"
    assert run(capsys, "label", source, "--format", fmt, "-o", reference, "--no-progress")[0] == 0
    labelled = cli._labelled

    def interrupted(*args, **kwargs):
        for number, pair in enumerate(labelled(*args, **kwargs)):
            if number == 5:
                raise KeyboardInterrupt
            yield pair

    monkeypatch.setattr(cli, "_labelled", interrupted)
    code, _, err = run(capsys, "label", source, "--format", fmt, "-o", output, "--no-progress")
    assert code == 130 and "rerun the same command to continue" in err and str(partial_path(output)) in err
    assert not output.exists() and partial_path(output).exists()

    monkeypatch.setattr(cli, "_labelled", labelled)
    code, _, err = run(capsys, "label", source, "--format", fmt, "-o", output, "--no-progress")
    assert code == 0 and "resuming" in err and "4 documents already written" in err
    assert_same_output(output, reference)
    assert not partial_path(output).exists()


def interrupt_after(monkeypatch, documents: int) -> None:
    """Make the next label run stop with Ctrl-C once ``documents`` documents are written."""
    labelled = cli._labelled

    def interrupted(*args, **kwargs):
        for number, pair in enumerate(labelled(*args, **kwargs)):
            if number == documents:
                monkeypatch.setattr(cli, "_labelled", labelled)
                raise KeyboardInterrupt
            yield pair

    monkeypatch.setattr(cli, "_labelled", interrupted)


def test_truncated_last_line_is_rewritten(capsys, tmp_path, loads, corpus, monkeypatch):
    source, ids = corpus
    reference = tmp_path / "reference.jsonl"
    assert run(capsys, "label", source, "-o", reference, "--no-progress")[0] == 0
    output = tmp_path / "out.jsonl"
    interrupt_after(monkeypatch, 8)
    assert run(capsys, "label", source, "-o", output, "--no-progress")[0] == 130
    written = partial_path(output).read_bytes()
    partial_path(output).write_bytes(written[: len(written) * 3 // 4])  # cut mid-line by a crash
    assert run(capsys, "label", source, "-o", output, "--no-progress")[0] == 0
    assert_same_output(output, reference)
    records = read_jsonl(output)
    assert list(dict.fromkeys(r["doc_id"] for r in records)) == ids
    assert len({(r["doc_id"], r["sentence_index"]) for r in records}) == len(records)


def test_existing_output_is_not_overwritten(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")
    for fmt in ("jsonl", "html"):
        output = tmp_path / f"out.{fmt}"
        output.write_text("keep me", encoding="utf-8")
        code, _, err = run(capsys, "label", source, "--format", fmt, "-o", output, "--no-progress")
        assert_one_line_error(code, err, f"{output} exists; pass --overwrite")
        assert output.read_text(encoding="utf-8") == "keep me"
        assert run(capsys, "label", source, "--format", fmt, "-o", output, "--overwrite", "--no-progress")[0] == 0
        assert "A sentence." in output.read_text(encoding="utf-8")
    assert loads == [(None, "auto", "auto", None)] * 2  # the refusals came before loading the model


# ---- label: bad input -------------------------------------------------------------------------
BAD_INPUTS = [
    ("bad.txt", b"Caf\xe9.", "bad.txt:1:4: invalid UTF-8 (byte 0xe9 at byte offset 3)"),
    ("bin.txt", b"GIF89a\x00\x01", "bin.txt: looks binary"),
    ("page.txt", b"<html><p>Hi</p></html>", "page.txt: line 1 holds HTML markup"),
    ("docs.jsonl", b'{"body": "x"}\n', "docs.jsonl:1: no text field 'text' (fields present: 'body'"),
    ("docs.jsonl", b'{"text": 12}\n', "docs.jsonl:1: field 'text' holds int 12, expected a string"),
    ("docs.jsonl", b'{"text": "a"}\n{"text": "b"\n', "docs.jsonl:2:13: invalid JSON"),
    ("docs.jsonl", b'{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n', "document id '1' is used twice"),
    ("docs.csv", b"id,text\n1,a,b\n", "docs.csv:2: 3 fields"),
    ("long.txt", b"Word. " * 20, "over the limit of 50"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_INPUTS, ids=[m[:20] for *_, m in BAD_INPUTS])
@pytest.mark.parametrize("fmt", ["jsonl", "html"])
def test_bad_input_is_one_line_and_leaves_no_file(capsys, tmp_path, loads, name, content, message, fmt):
    source = tmp_path / name
    source.write_bytes(content)
    output = tmp_path / "out" / f"labels.{fmt}"
    code, out, err = run(capsys, "label", source, "--format", fmt, "-o", output, "--max-chars", "50", "--no-progress")
    assert_one_line_error(code, err, message)
    assert out == ""
    assert not output.parent.exists() or list(output.parent.iterdir()) == []


@pytest.mark.parametrize(
    ("paths", "message"),
    [(["missing.txt"], "missing.txt: no such file or folder"), (["."], "no files matching '*.txt'")],
)
def test_missing_paths_fail_before_loading_the_model(capsys, tmp_path, monkeypatch, loads, paths, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "label", *paths)
    assert_one_line_error(code, err, message)
    assert loads == []


def test_empty_file_gives_no_records(capsys, tmp_path, loads):
    source = tmp_path / "empty.txt"
    source.write_text("", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    assert run(capsys, "label", source, "-o", output, "--no-progress")[0] == 0
    assert output.read_text(encoding="utf-8") == ""


def test_a_model_that_does_not_load(capsys, tmp_path):
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")
    code, _, err = run(capsys, "label", source, "--model", tmp_path / "no-model", "-o", tmp_path / "o.jsonl")
    assert_one_line_error(code, err, "no-model' does not exist")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_permission_error_is_one_line(capsys, tmp_path, loads, monkeypatch):
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")

    def denied(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", denied)
    code, _, err = run(capsys, "label", source, "--no-progress")
    assert_one_line_error(code, err, f"{source}: Permission denied")


def test_unexpected_errors_keep_their_traceback(capsys, tmp_path, monkeypatch, loads):
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")
        yield

    monkeypatch.setattr(cli, "_labelled", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["label", str(source), "--no-progress"])


def test_bad_option_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["label", "x.txt", "--batch-size", "0"])
    assert exit_info.value.code == 2
    assert "--batch-size: expected a positive integer, got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["label", "x.txt", "--threads", "two"])
    assert "--threads: expected a positive integer, got 'two'" in capsys.readouterr().err


def test_a_closed_stdout_pipe_stops_quietly(tmp_path, monkeypatch, loads):
    source = tmp_path / "a.txt"
    source.write_text("One. Two.", encoding="utf-8")
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (`| head`) has gone
    with io.TextIOWrapper(io.FileIO(write_end, "w"), encoding="utf-8") as closed_pipe:
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        assert cli.main(["label", str(source), "--no-progress"]) == 1
        closed_pipe.write("x" * 100_000)
        closed_pipe.flush()  # stdout now goes to /dev/null: the final flush cannot fail again


# ---- train, evaluate, export ------------------------------------------------------------------
def test_train_passes_every_flag(capsys, tmp_path, monkeypatch):
    seen = {}

    def fake_train(config):
        seen["config"] = config
        report = types.SimpleNamespace(to_markdown=lambda: "| the dev report |")
        return types.SimpleNamespace(dev_report=report, output=Path(config.output))

    monkeypatch.setattr(cli, "train", fake_train)
    argv = ["train", "--train", "t.csv", "--dev", "d.csv", "--base-model", "base", "--output", "out dir",
            "--epochs", "2", "--batch-size", "8", "--learning-rate", "1e-4", "--max-length", "64",
            "--context-window", "0", "--text-column", "sentence", "--label-column", "gold",
            "--context-before-column", "", "--context-after-column", "next", "--label-map", "OBJ=fact,SUBJ=opinion",
            "--dev-fraction", "0.2", "--seed", "7", "--patience", "3", "--no-class-weights", "--no-calibrate",
            "--float16", "--checkpoint-steps", "50", "--resume", "--overwrite", "--device", "cpu"]
    code, out, err = run(capsys, *argv)
    assert code == 0 and "| the dev report |" in out and "model written to out dir" in err
    config = seen["config"]
    assert (config.train, config.dev, config.base_model, config.output) == ("t.csv", "d.csv", "base", "out dir")
    assert (config.epochs, config.batch_size, config.learning_rate, config.max_length, config.context_window) == (
        2, 8, 1e-4, 64, 0)
    assert (config.columns.text, config.columns.label, config.columns.context_before, config.columns.context_after) == (
        "sentence", "gold", None, "next")
    assert config.label_map == {"OBJ": "fact", "SUBJ": "opinion"}
    assert (config.dev_fraction, config.seed, config.patience, config.device) == (0.2, 7, 3, "cpu")
    assert not config.class_weights and not config.calibrate and config.save_float16
    assert config.resume and config.overwrite and config.checkpoint_steps == 50
    assert config.command.startswith("factsift train --train t.csv --dev d.csv")
    assert "--output 'out dir' --epochs 2" in config.command and "--context-before-column '' --" in config.command


def test_train_defaults_are_the_library_defaults(capsys, monkeypatch):
    seen = {}

    def interrupted_train(config):
        seen["config"] = config
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", interrupted_train)
    code, _, err = run(capsys, "train", "--train", "t.jsonl")
    assert code == 130 and "no checkpoint was saved yet" in err and "--resume" not in err
    assert seen["config"] == cli.TrainConfig(
        train="t.jsonl", output="factsift-model", command="factsift train --train t.jsonl"
    )


def test_library_warnings_are_one_line(capsys, monkeypatch):
    def warning_train(config):
        warnings.warn("3 of 5 dev sentences\nalso occur in the training data", stacklevel=2)
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "train", warning_train)
    code, _, err = run(capsys, "train", "--train", "t.jsonl")
    assert err.splitlines()[0] == "factsift: warning: 3 of 5 dev sentences also occur in the training data"


def test_train_and_evaluate_for_real(capsys, tmp_path, train_file, tiny_encoder_dir):
    output = tmp_path / "model"
    code, out, err = run(capsys, "train", "--train", train_file, "--base-model", tiny_encoder_dir, "--output", output,
                         "--epochs", "1", "--device", "cpu", "--max-length", "32")
    assert code == 0, err
    assert "macro-F1" in out and (output / "config.json").is_file()
    assert f"--output {output}" in (output / "README.md").read_text(encoding="utf-8")

    data = tmp_path / "gold.csv"
    data.write_text("sentence,gold\nPrices rose.,OBJ\nThat is absurd.,SUBJ\n", encoding="utf-8")
    report = tmp_path / "report.json"
    argv = ["evaluate", "--model", output, "--data", data, "--text-column", "sentence", "--label-column", "gold",
            "--label-map", "OBJ=fact,SUBJ=opinion", "--output", report, "--no-progress"]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert "examples: 2" in out and json.loads(report.read_text(encoding="utf-8"))["examples"] == 2
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, f"{report} exists; pass --overwrite")
    assert run(capsys, *argv, "--overwrite")[0] == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--train", "missing.csv"], "missing.csv: no such file"),
        (["train", "--train", "t.jsonl", "--label-map", "OBJ"], "label map item 'OBJ' is not of the form"),
        (["evaluate", "--model", "m", "--data", "missing.csv"], "missing.csv: no such file"),
    ],
)
def test_train_and_evaluate_errors(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *argv)
    assert_one_line_error(code, err, message)


def test_export_passes_its_arguments(capsys, monkeypatch):
    calls = []
    fake = types.ModuleType("factsift.export")

    def export_model(model_dir, output_dir, quantize=None, overwrite=False):
        calls.append((model_dir, output_dir, quantize, overwrite))
        return Path(output_dir).resolve()

    fake.export_model = export_model
    fake.describe_export = lambda directory: f"{directory.name}: the summary"
    monkeypatch.setitem(sys.modules, "factsift.export", fake)
    code, _, err = run(capsys, "export", "--model", "m", "--output", "o")
    assert code == 0 and err == f"factsift: exported m to {Path('o').resolve()}: o: the summary\n"
    assert run(capsys, "export", "--model", "m", "--output", "o", "--quantize", "int8", "--overwrite")[0] == 0
    assert calls == [("m", "o", None, False), ("m", "o", "int8", True)]


def test_export_refuses_a_non_empty_output(capsys, tmp_path, tiny_model_dir):
    pytest.importorskip("factsift.export")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "keep.txt").write_text("mine", encoding="utf-8")
    code, _, err = run(capsys, "export", "--model", tiny_model_dir, "--output", tmp_path / "onnx")
    assert_one_line_error(code, err, "is not empty")
    assert [p.name for p in (tmp_path / "onnx").iterdir()] == ["keep.txt"]


# ---- the installed command --------------------------------------------------------------------
def test_installed_command(tmp_path, tiny_model_dir, tiny_classifier):
    source = tmp_path / "a.txt"
    source.write_text(TEXT, encoding="utf-8")
    command = Path(sys.executable).with_name("factsift")
    result = subprocess.run(
        [command, "label", source, "--model", tiny_model_dir, "--device", "cpu"],
        capture_output=True, text=True, encoding="utf-8", timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "labelling" in result.stderr and "Traceback" not in result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["text"], r["label"]) for r in records] == [(s.text, s.label) for s in tiny_classifier.label_text(TEXT)]
    assert all(TEXT[r["start"] : r["end"]] == r["text"] for r in records)



# ---- hardening (issue 11) ----------------------------------------------------------------------
def test_a_model_folder_without_tokenizer_json_stops_with_exit_2(capsys, tmp_path, tiny_model_dir):
    import shutil

    broken = shutil.copytree(tiny_model_dir, tmp_path / "model")
    for name in ("tokenizer.json", "vocab.txt"):
        (broken / name).unlink(missing_ok=True)
    source = tmp_path / "a.txt"
    source.write_text("A sentence.", encoding="utf-8")
    code, out, err = run(capsys, "label", source, "--model", broken, "--no-progress")
    assert_one_line_error(code, err, "the tokenizer has 5 tokens but config.json has vocab_size 30,522")
    assert out == ""


def test_a_model_name_that_is_no_folder_fails_fast_offline(capsys, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("A sentence.", encoding="utf-8")
    code, _, err = run(capsys, "label", "a.txt", "--model", "my-model")
    assert_one_line_error(code, err, "no local folder 'my-model' and the Hub is unreachable")


def test_output_through_a_symlink_writes_its_target(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("One. Two.", encoding="utf-8")
    target = tmp_path / "real" / "labels.jsonl"
    target.parent.mkdir()
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    for fmt in ("jsonl", "html"):
        assert run(capsys, "label", source, "-o", link, "--format", fmt, "--overwrite", "--no-progress")[0] == 0
        assert link.is_symlink() and link.resolve() == target
        assert "One." in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in target.parent.iterdir()) == ["labels.jsonl"]


def test_output_to_a_fifo_is_streamed(capsys, tmp_path, loads):
    import stat
    import threading

    source = tmp_path / "a.txt"
    source.write_text("One. Two.", encoding="utf-8")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    code, _, err = run(capsys, "label", source, "-o", fifo, "--no-progress")
    reader.join(timeout=30)
    assert code == 0, err
    assert [json.loads(line)["text"] for line in received[0].splitlines()] == ["One.", "Two."]
    assert stat.S_ISFIFO(fifo.stat().st_mode) and not partial_path(fifo).exists()


def test_output_to_dev_stdout_and_dash_is_streamed(capfd, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("One. Two.", encoding="utf-8")
    for output, extra in (("/dev/stdout", []), ("/dev/stdout", ["--overwrite"]), ("-", [])):
        sys.stdout.flush()
        assert cli.main(["label", str(source), "-o", output, "--no-progress", *extra]) == 0
        sys.stdout.flush()
        out, err = capfd.readouterr()
        assert [json.loads(line)["text"] for line in out.splitlines()] == ["One.", "Two."], err
    assert Path("/dev/stdout").is_symlink() or not Path("/dev/stdout").is_file()


def test_a_rerun_with_other_inputs_is_refused_and_overwrite_starts_clean(capsys, tmp_path, loads, monkeypatch):
    first = write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": f"Doc a{i}."} for i in range(6)])
    second = write_jsonl(tmp_path / "b.jsonl", [{"id": f"b{i}", "text": f"Doc b{i}."} for i in range(3)])
    output = tmp_path / "out.jsonl"
    interrupt_after(monkeypatch, 3)
    assert run(capsys, "label", first, "-o", output, "--no-progress")[0] == 130
    code, _, err = run(capsys, "label", second, "-o", output, "--no-progress")
    assert_one_line_error(code, err, f"{partial_path(output)} was started by a run with other inputs")
    code, _, err = run(capsys, "label", second, "-o", output, "--overwrite", "--no-progress")
    assert code == 0 and "resuming" not in err
    assert [r["doc_id"] for r in read_jsonl(output)] == ["b0", "b1", "b2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl", "out.jsonl"]


def test_a_rerun_with_the_same_inputs_resumes_even_with_overwrite(capsys, tmp_path, loads, monkeypatch):
    source = write_jsonl(tmp_path / "a.jsonl", [{"id": f"a{i}", "text": f"Doc a{i}."} for i in range(6)])
    output = tmp_path / "out.jsonl"
    interrupt_after(monkeypatch, 3)
    assert run(capsys, "label", source, "-o", output, "--no-progress")[0] == 130
    code, _, err = run(capsys, "label", source, "-o", output, "--overwrite", "--no-progress")
    assert code == 0 and "2 documents already written" in err
    assert [r["doc_id"] for r in read_jsonl(output)] == [f"a{i}" for i in range(6)]
    code, _, err = run(capsys, "label", source, "-o", output, "--max-chars", "99", "--no-progress")
    assert_one_line_error(code, err, f"{output} exists")


@pytest.mark.parametrize("fmt", ["html", "csv", "jsonl"])
def test_stdout_gets_nothing_when_the_first_document_is_bad(capsys, tmp_path, loads, fmt):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Caf\xe9.")
    code, out, err = run(capsys, "label", bad, "--format", fmt, "--no-progress")
    assert_one_line_error(code, err, "invalid UTF-8")
    assert out == ""
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    code, out, _ = run(capsys, "label", empty, "--format", fmt, "--no-progress")
    assert code == 0 and out == {"html": out, "csv": out, "jsonl": ""}[fmt]
    assert fmt != "html" or out.rstrip().endswith("</html>")
    assert fmt != "csv" or out.startswith("doc_id,")


def test_interrupted_before_the_first_document_gives_no_resume_hint(capsys, tmp_path, loads, monkeypatch):
    source = tmp_path / "a.txt"
    source.write_text("One.", encoding="utf-8")
    output = tmp_path / "out.jsonl"
    interrupt_after(monkeypatch, 0)
    code, _, err = run(capsys, "label", source, "-o", output, "--no-progress")
    assert code == 130 and err == "factsift: interrupted\n"
    assert list(tmp_path.iterdir()) == [source]


def test_the_output_may_not_be_an_input(capsys, tmp_path, loads):
    source = tmp_path / "a.txt"
    source.write_text("One.", encoding="utf-8")
    for output in (source, tmp_path / "." / "a.txt"):
        code, _, err = run(capsys, "label", source, "-o", output, "--overwrite", "--no-progress")
        assert_one_line_error(code, err, "is also an input of this run")
    folder_input = tmp_path / "notes"
    folder_input.mkdir()
    (folder_input / "b.txt").write_text("Two.", encoding="utf-8")
    code, _, err = run(capsys, "label", folder_input, "-o", folder_input / "b.txt", "--overwrite", "--no-progress")
    assert_one_line_error(code, err, "is also an input of this run")
    assert source.read_text(encoding="utf-8") == "One." and loads == []


def test_tsv_and_json_inputs_are_records_and_fields_need_records(capsys, tmp_path, loads):
    tsv = tmp_path / "docs.tsv"
    tsv.write_text("key\tbody\nfirst\tOne. Two.\n", encoding="utf-8")
    code, out, err = run(capsys, "label", tsv, "--text-field", "body", "--id-field", "key", "--no-progress")
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert [(r["doc_id"], r["text"]) for r in records] == [("first", "One."), ("first", "Two.")]
    text = tmp_path / "a.txt"
    text.write_text("One.", encoding="utf-8")
    code, _, err = run(capsys, "label", text, "--text-field", "body")
    assert_one_line_error(code, err, "plain text has no fields, so --text-field 'body' cannot apply")


def test_allow_markup(capsys, tmp_path, loads):
    page = tmp_path / "page.txt"
    page.write_text("<div><p>One.</p> <p>Two.</p></div>", encoding="utf-8")
    code, _, err = run(capsys, "label", page, "--no-progress")
    assert_one_line_error(code, err, "--allow-markup")
    code, out, _ = run(capsys, "label", page, "--allow-markup", "--no-progress")
    assert code == 0 and "One." in json.loads(out.splitlines()[0])["text"]
    prose = tmp_path / "prose.txt"
    prose.write_text("A paragraph starts with <p> in HTML. It is simple.", encoding="utf-8")
    assert run(capsys, "label", prose, "--no-progress")[0] == 0


def test_offsets_of_a_file_with_a_bom_round_trip(capsys, tmp_path, loads):
    source = tmp_path / "bom.txt"
    source.write_bytes("\ufeffFirst one. Second one.".encode("utf-8"))
    code, out, _ = run(capsys, "label", source, "--no-progress")
    records = [json.loads(line) for line in out.splitlines()]
    text = source.read_text(encoding="utf-8")
    assert code == 0 and [text[r["start"] : r["end"]] for r in records] == ["First one.", "Second one."]
    assert [r["text"] for r in records] == ["First one.", "Second one."]
