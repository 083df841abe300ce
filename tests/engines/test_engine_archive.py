"""``factsift label --engine local``: part files, manifest, resume, refusals and bad records."""

from __future__ import annotations

import json

import pandas as pd
import pandas.testing as pdt
import pytest

from factsift import cli
from factsift.engines.archive import ERRORS_FILE, MANIFEST_FILE, SUCCESS_FILE
from factsift.engines.core import cached_classifier, label_batch

from .conftest import archive_documents


def read_parts(folder) -> pd.DataFrame:
    parts = sorted(folder.glob("part-*.parquet"))
    return pd.concat([pd.read_parquet(part) for part in parts], ignore_index=True)


def run(*args) -> int:
    return cli.main(["label", *map(str, args), "--no-progress"])


def assert_engine_gives_the_local_rows(engine: str, archive, model_dir, tmp_path) -> None:
    """``--engine ENGINE --workers 2`` labels the archive into exactly the rows of ``--engine local``."""
    common = [archive, "--model", model_dir, "--part-size", 8]
    assert run(*common, "--engine", "local", "--output", tmp_path / "local") == 0
    assert run(*common, "--engine", engine, "--workers", 2, "--output", tmp_path / engine) == 0
    local, cluster = read_parts(tmp_path / "local"), read_parts(tmp_path / engine)
    assert not cluster.duplicated(["doc_id", "sentence_index"]).any()
    pdt.assert_frame_equal(cluster, local)


def test_archive_is_labelled_part_by_part_in_input_order(archive, varied_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(archive, "--engine", "local", "--model", varied_model_dir, "--part-size", 8, "--output", out) == 0
    documents = pd.DataFrame(archive_documents(60))
    classifier = cached_classifier(str(varied_model_dir))
    expected = pd.concat([label_batch(documents.iloc[i : i + 8], classifier) for i in range(0, 60, 8)], ignore_index=True)
    pdt.assert_frame_equal(read_parts(out), expected)
    assert len(list(out.glob("part-*.parquet"))) == 8
    assert json.loads((out / SUCCESS_FILE).read_text())["documents"] == 60
    assert "60 documents into 8 parts" in capsys.readouterr().err
    assert not list(out.glob(".*.tmp"))


def test_rerun_labels_only_missing_parts_and_jsonl_matches_parquet(archive, varied_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = [archive / "a.jsonl", f"{archive}/*.csv", "--engine", "local", "--model", varied_model_dir,
            "--part-size", 16, "--format", "jsonl", "--output", out]
    assert run(*args) == 0
    first = {path.name: path.read_bytes() for path in out.glob("part-*")}
    (out / "part-00001.jsonl").unlink()
    (out / SUCCESS_FILE).unlink()
    capsys.readouterr()
    assert run(*args) == 0
    assert "into 1 parts (3 done before)" in capsys.readouterr().err
    assert {path.name: path.read_bytes() for path in out.glob("part-*")} == first
    rows = pd.concat([pd.read_json(out / name, lines=True) for name in sorted(first)], ignore_index=True)
    assert list(rows["doc_id"].drop_duplicates()) == [f"d{i}" for i in range(50) if i % 13]  # empty texts: no rows


def test_output_written_with_other_settings_is_refused(archive, varied_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(archive / "c.parquet", "--engine", "local", "--model", varied_model_dir, "--output", out) == 0
    assert run(archive / "c.parquet", "--engine", "local", "--model", varied_model_dir, "--part-size", 2, "--output", out) == 2
    assert "other settings (part_size: 64)" in capsys.readouterr().err
    assert json.loads((out / MANIFEST_FILE).read_text())["part_size"] == 64


def test_malformed_record_stops_naming_file_and_line_or_is_skipped_into_errors(tmp_path, varied_model_dir, capsys):
    records = tmp_path / "in.jsonl"
    records.write_text('{"id": "a", "text": "It rained."}\n{"id": "b", "text": \n{"id": "c", "text": "It is good."}\n')
    assert run(records, "--engine", "local", "--model", varied_model_dir, "--output", tmp_path / "stop") == 2
    assert f"{records}:2:" in capsys.readouterr().err
    assert not (tmp_path / "stop" / SUCCESS_FILE).exists()
    out = tmp_path / "skip"
    assert run(records, "--engine", "local", "--model", varied_model_dir, "--on-error", "skip", "--output", out) == 0
    assert "skipped 1 bad records" in capsys.readouterr().err
    errors = [json.loads(line) for line in (out / ERRORS_FILE).read_text().splitlines()]
    assert [error["record"] for error in errors] == [f"{records}:2"]
    assert list(read_parts(out)["doc_id"]) == ["a", "c"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "local"], "--engine needs --output"),
        (["--engine", "local", "--format", "csv", "--output", "out"], "format must be one of parquet, jsonl"),
        (["--format", "parquet", "--output", "out.parquet"], "use it with --engine"),
    ],
)
def test_part_files_need_an_engine_a_part_format_and_an_output_folder(options, message, archive, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(archive / "a.jsonl", *options) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
