"""The shipped default model on real, unambiguous sentences (LABELS.md worked examples and similar)."""

from __future__ import annotations

import pytest

import factsift
from factsift import Classifier
from factsift.model import default_model_path

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


@pytest.mark.xfail(strict=True, reason=(
    "known weakness: a short evaluative sentence right after a quotation is pulled towards fact by its "
    "context (alone it is opinion, 0.79); training with context dropout 0.5 did not fix it"
))
def test_short_opinion_after_a_quotation():
    result = factsift.label_text("He said: “We will win.” That seems unlikely.")
    assert [s.label for s in result] == ["quotation", "opinion"]


@pytest.fixture(scope="module")
def shipped_int8(tmp_path_factory) -> Classifier:
    pytest.importorskip("onnxruntime")
    from factsift.export import export_model
    from factsift.model import default_model_path

    return Classifier.from_pretrained(export_model(default_model_path(), tmp_path_factory.mktemp("int8") / "m", "int8"))


def test_int8_export_labels_the_hard_cases_like_fp32(shipped, shipped_int8):
    import json
    from pathlib import Path

    cases = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "hard_cases.jsonl"
    texts = [json.loads(line)["text"] for line in cases.read_text(encoding="utf-8").splitlines()]
    fp32 = [sentence.label for document in shipped.label_texts(texts) for sentence in document]
    int8 = [sentence.label for document in shipped_int8.label_texts(texts) for sentence in document]
    assert len(fp32) == len(int8) > 150
    # 180 of 184 agree here (near-ties are common in the hard cases); benchmarks/speed.py: 99.3 % of 2,322
    assert sum(a == b for a, b in zip(fp32, int8)) / len(fp32) >= 0.95
