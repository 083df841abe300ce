"""Metrics for a labeled set: accuracy, macro-F1, per-class P/R/F1, confusion matrix, calibration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from factsift.data import LabeledData, check_known_labels
from factsift.fileio import atomic_write_text
from factsift.labels import Label

CALIBRATION_BINS = 10


@dataclass
class EvaluationReport:
    """Scores of one model on one labeled set."""

    labels: list[str]
    examples: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]  # rows: gold label, columns: predicted, in ``labels`` order
    expected_calibration_error: float
    opinion_vs_rest_macro_f1: float | None = None  # the CheckThat OBJ/SUBJ metric, when "opinion" exists

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (atomically)."""
        return atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    def to_markdown(self) -> str:
        """Human-readable tables: summary, per-class scores, confusion matrix."""
        lines = [
            f"examples: {self.examples}  accuracy: {self.accuracy:.4f}  macro-F1: {self.macro_f1:.4f}  "
            f"ECE: {self.expected_calibration_error:.4f}"
        ]
        if self.opinion_vs_rest_macro_f1 is not None:
            lines.append(f"opinion-vs-rest macro-F1 (OBJ/SUBJ): {self.opinion_vs_rest_macro_f1:.4f}")
        lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for label, row in self.per_class.items():
            lines.append(
                f"| {label} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {int(row['support'])} |"
            )
        lines += ["", "| gold \\ predicted | " + " | ".join(self.labels) + " |",
                  "|---" * (len(self.labels) + 1) + "|"]
        for label, counts in zip(self.labels, self.confusion_matrix):
            lines.append(f"| {label} | " + " | ".join(map(str, counts)) + " |")
        return "\n".join(lines)


def compute_report(
    gold: Sequence[str], probabilities: np.ndarray, labels: Sequence[str]
) -> EvaluationReport:
    """Score predicted probabilities (rows in ``labels`` order) against gold labels.

    The prediction is the most probable label. Macro-F1 averages the labels that occur in
    ``gold`` (a label the model knows but the set lacks has no recall to score); per-class rows
    and the confusion matrix cover every label.
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels, gold = list(labels), list(gold)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if not gold:
        raise ValueError("no examples to score")
    if probabilities.shape != (len(gold), len(labels)):
        raise ValueError(f"probabilities have shape {probabilities.shape}, expected {(len(gold), len(labels))}")
    unknown = sorted(set(gold) - set(labels))
    if unknown:
        raise ValueError(f"gold labels {unknown} are not among the scored labels {labels}")
    predicted = [labels[i] for i in probabilities.argmax(axis=1)]
    precision, recall, f1, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, zero_division=0
    )
    per_class = {
        label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for label, p, r, f, s in zip(labels, precision, recall, f1, support)
    }
    present = [label for label in labels if per_class[label]["support"] > 0]
    binary = None
    if Label.OPINION.value in labels:
        is_opinion = lambda values: [v == Label.OPINION.value for v in values]  # noqa: E731
        binary = float(f1_score(is_opinion(gold), is_opinion(predicted), average="macro", zero_division=0))
    return EvaluationReport(
        labels=labels,
        examples=len(gold),
        accuracy=float(accuracy_score(gold, predicted)),
        macro_f1=float(f1_score(gold, predicted, labels=present, average="macro", zero_division=0)),
        per_class=per_class,
        confusion_matrix=confusion_matrix(gold, predicted, labels=labels).tolist(),
        expected_calibration_error=expected_calibration_error(gold, probabilities, labels),
        opinion_vs_rest_macro_f1=binary,
    )


def expected_calibration_error(
    gold: Sequence[str], probabilities: np.ndarray, labels: Sequence[str], bins: int = CALIBRATION_BINS
) -> float:
    """Mean |confidence - accuracy| over equal-width confidence bins, weighted by bin size.

    Bins are ``(0, 0.1], (0.1, 0.2], ...``: a confidence on an edge falls in the lower bin.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    confidence = probabilities.max(axis=1)
    correct = np.array([labels[i] == g for i, g in zip(probabilities.argmax(axis=1), gold)], dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    bin_of = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = bin_of == b
        if mask.any():
            total += mask.mean() * abs(confidence[mask].mean() - correct[mask].mean())
    return float(total)


def evaluate(classifier, data: LabeledData, batch_size: int = 32, progress: bool = False) -> EvaluationReport:
    """Run ``classifier`` over ``data`` and score it; labels unknown to the model are an error.

    The context columns are used only by a model trained with context (``context_window > 0``),
    so a model sees the same kind of input here as in training.
    """
    check_known_labels(data, classifier.labels)
    with_context = classifier.settings.context_window > 0
    scores = classifier.predict_proba(
        data.texts,
        data.context_before if with_context else None,
        data.context_after if with_context else None,
        batch_size=batch_size,
        progress=progress,
    )
    probabilities = np.array([[row[label] for label in classifier.labels] for row in scores])
    return compute_report(data.labels, probabilities, classifier.labels)
