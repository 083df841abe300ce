"""The shipped form (float16 safetensors + int8 ONNX in one directory), on the tiny random-weight model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("onnx")

from conftest import LABELS, TRAIN_SENTENCES  # noqa: E402

from factsift import Classifier  # noqa: E402
from factsift.backends.onnx import OnnxBackend  # noqa: E402
from factsift.backends.torch import TorchBackend  # noqa: E402
from factsift.export import INT8_FILE  # noqa: E402
from factsift.settings import ModelSettings  # noqa: E402
from factsift.ship import CARD_SECTION, ship_model, with_shipped_section  # noqa: E402

SENTENCES = [text for texts in TRAIN_SENTENCES.values() for text in texts]
CHECKS = {"train sentences": [(text, "", "") for text in SENTENCES]}


def safetensors_dtypes(directory) -> set[str]:
    from safetensors import safe_open

    with safe_open(str(directory / "model.safetensors"), "pt") as weights:
        return {str(weights.get_slice(name).get_dtype()) for name in weights.keys()}


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    return shutil.copytree(tiny_model_dir, tmp_path / "model")


@pytest.fixture(scope="module")
def shipped(tiny_model_dir, tmp_path_factory):
    """A copy of the tiny model (context window 0, as model v2) shipped in place; its float32 scores."""
    directory = shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("ship") / "model")
    settings = ModelSettings.load(directory, LABELS)
    settings.context_window = 0
    settings.save(directory)
    (directory / "README.md").write_text("# tiny model\n\nTrained on nothing.\n")
    expected = Classifier.from_pretrained(directory, backend="torch").predict_proba(SENTENCES)
    return directory, ship_model(directory, checks=CHECKS), expected


def test_ship_in_place_adds_int8_onnx_and_float16_weights(shipped):
    directory, report, expected = shipped
    assert report.output == directory
    settings = json.loads((directory / "factsift.json").read_text())
    assert settings["onnx_file"] == INT8_FILE and settings["context_window"] == 0
    assert settings["extra"]["export"]["quantize"] == "int8" and settings["extra"]["export"]["source"] == str(directory)
    assert safetensors_dtypes(directory) == {"F16"}
    assert report.file_mb["model.safetensors"] < report.file_mb[INT8_FILE] * 4
    assert [p.name for p in directory.parent.iterdir()] == ["model"]  # no staging left
    default = Classifier.from_pretrained(directory)
    assert isinstance(default.backend, OnnxBackend)
    weights = Classifier.from_pretrained(directory, backend="torch")
    assert isinstance(weights.backend, TorchBackend)
    for classifier, tolerance in ((weights, 0.01), (default, 0.05)):
        got = classifier.predict_proba(SENTENCES)
        np.testing.assert_allclose([list(r.values()) for r in got], [list(r.values()) for r in expected],
                                   atol=tolerance)
    [agreement] = report.agreements
    assert agreement.name == "train sentences" and agreement.sentences == len(SENTENCES)
    assert agreement.int8 >= 0.8 and agreement.float16 >= 0.9
    assert report.speed_sentences == len(SENTENCES) and report.int8_per_s > 0 and report.float32_per_s > 0
    card = (directory / "README.md").read_text()
    assert card.startswith("# tiny model\n\nTrained on nothing.\n")
    assert f"| train sentences | {len(SENTENCES)} | {agreement.int8:.2%} | {agreement.float16:.2%} |" in card


def test_the_cli_runs_the_weights_with_backend_torch(shipped, tmp_path, capsys):
    from factsift.cli import main

    text = tmp_path / "t.txt"
    text.write_text(" ".join(SENTENCES[:3]), encoding="utf-8")
    outputs = {}
    for backend in ("auto", "torch"):
        assert main(["label", str(text), "--model", str(shipped[0]), "--backend", backend, "--no-progress"]) == 0
        outputs[backend] = [json.loads(line)["scores"] for line in capsys.readouterr().out.splitlines()]
    assert len(outputs["auto"]) == len(outputs["torch"]) == 3
    assert outputs["auto"] != outputs["torch"]  # int8 and the float32-loaded weights differ slightly


def test_saving_the_torch_side_of_a_shipped_model_writes_a_torch_model(shipped, tmp_path):
    saved = Classifier.from_pretrained(shipped[0], backend="torch").save_pretrained(tmp_path / "saved")
    assert json.loads((saved / "factsift.json").read_text())["onnx_file"] is None
    assert isinstance(Classifier.from_pretrained(saved).backend, TorchBackend)


def test_transformers_pipeline_loads_the_shipped_weights_as_float32(shipped):
    import torch
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(shipped[0]), device="cpu")
    assert pipe.model.dtype == torch.float32
    assert {result["label"] for result in pipe(SENTENCES[:5])} <= set(LABELS)


def test_shipping_a_shipped_model_into_an_output_directory(shipped, tmp_path):
    source = shipped[0]
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    report = ship_model(source, tmp_path / "again", checks=CHECKS)
    assert report.output == tmp_path / "again" and (report.output / INT8_FILE).is_file()
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before  # the source is left alone
    assert (report.output / "README.md").read_text().count(CARD_SECTION) == 1
    assert safetensors_dtypes(report.output) == {"F16"}
    with pytest.raises(FileExistsError, match="not empty; pass overwrite"):
        ship_model(source, tmp_path / "again")


def test_a_failed_ship_leaves_the_model_as_it_was(model_copy, tmp_path, monkeypatch):
    import factsift.export as export

    def broken(*args, **kwargs):
        raise RuntimeError("export failed halfway")

    monkeypatch.setattr(export, "write_onnx", broken)
    before = {p.name: p.read_bytes() for p in model_copy.iterdir()}
    with pytest.raises(RuntimeError, match="halfway"):
        ship_model(model_copy, checks=CHECKS)
    assert {p.name: p.read_bytes() for p in model_copy.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_ship_refuses_a_directory_without_weights(tmp_path):
    from factsift import ModelLoadError

    with pytest.raises(ModelLoadError, match="has no model.safetensors"):
        ship_model(tmp_path)


def test_with_shipped_section_appends_then_replaces():
    card = "# model\n\n## Dev metrics\n\nF1 0.8\n"
    first = with_shipped_section(card, f"{CARD_SECTION}\n\nold\n")
    assert first == card + f"\n{CARD_SECTION}\n\nold\n"
    second = with_shipped_section(first + "\n## Later\n\nkept\n", f"{CARD_SECTION}\n\nnew\n")
    assert second == card + f"\n{CARD_SECTION}\n\nnew\n\n## Later\n\nkept\n"
