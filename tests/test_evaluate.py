"""Metrics on small hand-computed cases, the JSON report, and evaluate() on a tiny model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from factsift.data import DataError, LabeledData
from factsift.evaluate import EvaluationReport, compute_report, evaluate, expected_calibration_error
from factsift.model import Classifier


def rows_for(predicted: list[int], confidence: list[float], n_labels: int = 3) -> np.ndarray:
    """Probability rows whose argmax is ``predicted`` with the given top probability."""
    rows = []
    for label, top in zip(predicted, confidence):
        rest = (1 - top) / (n_labels - 1)
        row = [rest] * n_labels
        row[label] = top
        rows.append(row)
    return np.array(rows)


# gold a a b b c c, predicted a b b b a c (hand-computed below)
GOLD = ["a", "a", "b", "b", "c", "c"]
PREDICTED = [0, 1, 1, 1, 0, 2]
CONFIDENCE = [0.85, 0.65, 0.65, 0.85, 0.45, 0.45]


def test_hand_computed_report():
    report = compute_report(GOLD, rows_for(PREDICTED, CONFIDENCE), ["a", "b", "c"])
    assert report.examples == 6
    assert report.accuracy == pytest.approx(4 / 6)
    assert report.confusion_matrix == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    # a: P 1/2 R 1/2 F1 1/2; b: P 2/3 R 1 F1 0.8; c: P 1 R 1/2 F1 2/3
    assert report.per_class["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert report.per_class["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert report.per_class["c"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert report.macro_f1 == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    # bins (0.4,0.5]: conf .45 acc .5; (0.6,0.7]: conf .65 acc .5; (0.8,0.9]: conf .85 acc 1 -> each 2/6 weight
    assert report.expected_calibration_error == pytest.approx((0.05 + 0.15 + 0.15) / 3)
    assert report.opinion_vs_rest_macro_f1 is None  # no "opinion" label


def test_ece_edges():
    labels = ["x", "y"]
    assert expected_calibration_error(["x", "y"], np.array([[1.0, 0.0], [0.0, 1.0]]), labels) == 0.0
    assert expected_calibration_error(["x", "y"], np.array([[0.7, 0.3], [0.3, 0.7]]), labels) == pytest.approx(0.3)
    # all wrong at confidence 0.8: the gap is the whole confidence
    assert expected_calibration_error(["y", "x"], np.array([[0.8, 0.2], [0.2, 0.8]]), labels) == pytest.approx(0.8)
    # 0.6 and 0.9 in separate bins: |0.6 - 1| / 2 + |0.9 - 0| / 2
    assert expected_calibration_error(["x", "x"], np.array([[0.6, 0.4], [0.1, 0.9]]), labels) == pytest.approx(0.65)


def test_opinion_vs_rest_is_the_binary_macro_f1():
    labels = ["fact", "quotation", "opinion"]
    gold = ["fact", "opinion", "quotation", "opinion"]
    probabilities = rows_for([0, 2, 2, 0], [0.9] * 4)  # fact, opinion, opinion, fact
    report = compute_report(gold, probabilities, labels)
    # binary: opinion P 1/2 R 1/2, rest P 1/2 R 1/2 -> 0.5
    assert report.opinion_vs_rest_macro_f1 == pytest.approx(0.5)
    # 3-class: fact P 1/2 R 1 F1 2/3; quotation 0; opinion P 1/2 R 1/2 F1 1/2
    assert report.macro_f1 == pytest.approx((2 / 3 + 0 + 0.5) / 3)


def test_macro_f1_averages_labels_present_in_gold():
    # "c" never occurs in gold but is predicted once: it lowers a's recall, and is left out of the average
    report = compute_report(["a", "a", "b"], rows_for([0, 2, 1], [0.9] * 3), ["a", "b", "c"])
    assert report.per_class["c"]["support"] == 0
    f1_a = 2 * 1.0 * 0.5 / 1.5
    assert report.macro_f1 == pytest.approx((f1_a + 1.0) / 2)
    assert report.confusion_matrix == [[1, 0, 1], [0, 1, 0], [0, 0, 0]]


def test_report_input_errors():
    with pytest.raises(ValueError, match=r"shape \(2, 2\), expected \(2, 3\)"):
        compute_report(["a", "b"], np.full((2, 2), 0.5), ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"gold labels \['z'\] are not among"):
        compute_report(["a", "z"], np.full((2, 2), 0.5), ["a", "b"])
    with pytest.raises(ValueError, match="no examples"):
        compute_report([], np.zeros((0, 2)), ["a", "b"])


def test_json_and_markdown(tmp_path):
    report = compute_report(GOLD, rows_for(PREDICTED, CONFIDENCE), ["a", "b", "c"])
    path = report.save(tmp_path / "sub" / "evaluation.json")
    loaded = json.loads(path.read_text(encoding="utf-8"))
    assert loaded == report.to_dict()
    assert EvaluationReport(**loaded) == report
    markdown = report.to_markdown()
    assert "| b | 0.6667 | 1.0000 | 0.8000 | 2 |" in markdown
    assert "| c | 1 | 0 | 1 |" in markdown


# ---- evaluate() with a model ---------------------------------------------------------------------
def labeled(texts, labels, before=None, after=None) -> LabeledData:
    n = len(texts)
    return LabeledData(list(texts), list(labels), before or [""] * n, after or [""] * n, [f"t:{i}" for i in range(n)])


def test_evaluate_matches_compute_report_on_predictions(tiny_classifier):
    texts = ["The council met.", "“No,” he said.", "This is absurd.", "Prices rose."]
    data = labeled(texts, ["fact", "quotation", "opinion", "fact"])
    report = evaluate(tiny_classifier, data, batch_size=2)
    scores = tiny_classifier.predict_proba(texts, batch_size=2)
    expected = compute_report(data.labels, np.array([[s[l] for l in tiny_classifier.labels] for s in scores]),
                              tiny_classifier.labels)
    assert report == expected
    assert report.examples == 4 and report.labels == ["fact", "quotation", "opinion"]


def test_evaluate_rejects_labels_unknown_to_the_model(tiny_classifier):
    with pytest.raises(DataError, match=r"t:1: label 'rumour' is unknown to the model"):
        evaluate(tiny_classifier, labeled(["A.", "B."], ["fact", "rumour"]))


def test_evaluate_uses_context_only_for_a_model_trained_with_it(tiny_classifier, monkeypatch):
    data = labeled(["A.", "B."], ["fact", "opinion"], before=["Before.", ""], after=["", "After."])
    seen = []

    def spy(self, sentences, context_before=None, context_after=None, **kwargs):
        seen.append((context_before, context_after))
        return original(self, sentences, context_before, context_after, **kwargs)

    original = Classifier.predict_proba
    monkeypatch.setattr(Classifier, "predict_proba", spy)
    evaluate(tiny_classifier, data)  # context_window 1
    without = Classifier(tiny_classifier.backend, tiny_classifier.tokenizer,
                         replace(tiny_classifier.settings, context_window=0))
    evaluate(without, data)
    assert seen == [(["Before.", ""], ["", "After."]), (None, None)]
