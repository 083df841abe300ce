"""The shipped default model on real, unambiguous sentences (LABELS.md worked examples and similar)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import factsift
from factsift import Classifier
from factsift.backends.onnx import OnnxBackend
from factsift.backends.torch import TorchBackend
from factsift.model import default_model_path, load_settings

pytestmark = pytest.mark.shipped


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    return Classifier.from_pretrained(device="cpu")


def test_default_model_is_found_in_the_repository():
    assert default_model_path().name == "factsift-minilm"
    assert (default_model_path() / "model.safetensors").is_file()


@pytest.mark.parametrize(
    ("sentence", "label"),
    [
        ("In an interview with Tass news agency, Russian Foreign Minister Sergei Lavrov stated that "
         "Russia would support China in a Taiwan contingency.", "fact"),
        ("The central bank said on Thursday that inflation had slowed to 2.1 percent in October.", "fact"),
        ("“We will stand with our partners,” the minister told reporters.", "quotation"),
        ("“Nobody in this building wants a shutdown,” the senator said on Tuesday.", "quotation"),
        ("This creates a clear power dynamic, where Russia is very much the junior partner.", "opinion"),
        ("It is difficult to envision Russia providing much beyond diplomatic backing.", "opinion"),
    ],
)
def test_unambiguous_sentences(shipped, sentence, label):
    assert shipped.predict([sentence]) == [label]


def test_scare_quotes_are_not_quotations(shipped):
    labels = shipped.predict([
        "The move also seems to highlight a developing “axis of evil” of sorts.",
        "The so-called “peace plan” is little more than a surrender dressed up as diplomacy.",
    ])
    assert "quotation" not in labels


def test_every_sentence_of_a_multi_sentence_quote_is_a_quotation(shipped):
    text = ("The mayor spoke after the vote. “We waited ten years for this. The money is finally here. "
            "Construction starts in May,” she said. The council approved the plan 7 to 2.")
    labels = [s.label for s in shipped.label_text(text)]
    assert labels == ["fact", "quotation", "quotation", "quotation", "fact"]


def test_label_text_top_level_helper_returns_offsets_into_the_text():
    text = "He said: “We will win.” That seems unlikely."
    result = factsift.label_text(text)
    assert [(s.text, s.label) for s in result][0] == ("He said: “We will win.”", "quotation")
    assert all(text[s.start : s.end] == s.text for s in result)


def test_short_opinion_after_a_quotation_is_judged_on_its_own_words():
    # v1 read the sentence with its neighbours and called this one fact; v2 reads each sentence alone
    result = factsift.label_text("He said: “We will win.” That seems unlikely.")
    assert [s.label for s in result] == ["quotation", "opinion"]


HARD_CASES = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "hard_cases.jsonl"


def test_int8_onnx_file_agrees_with_torch_float32_on_the_hard_cases():
    settings = load_settings(str(default_model_path()))
    if settings.onnx_file is None:
        pytest.skip(
            f"{default_model_path()}/factsift.json names no onnx_file yet: the int8 export is added by "
            "`python benchmarks/ship_model.py models/factsift-minilm` when the model is shipped"
        )
    int8 = Classifier.from_pretrained(device="cpu")
    fp32 = Classifier.from_pretrained(device="cpu", backend="torch")
    assert isinstance(int8.backend, OnnxBackend) and isinstance(fp32.backend, TorchBackend)
    texts = [json.loads(line)["text"] for line in HARD_CASES.read_text(encoding="utf-8").splitlines()]
    expected = [sentence.label for document in fp32.label_texts(texts) for sentence in document]
    got = [sentence.label for document in int8.label_texts(texts) for sentence in document]
    assert len(got) == len(expected) > 150
    # near-ties are common in the hard cases; the model card records the agreement on the test split
    assert sum(a == b for a, b in zip(got, expected)) / len(expected) >= 0.95
