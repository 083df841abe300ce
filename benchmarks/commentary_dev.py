"""Score a model on ``../shared/data/commentary_dev`` the way a user meets commentary.

    python benchmarks/commentary_dev.py [--model DIR ...] [--backend auto|torch|onnx]

commentary_dev is for model selection and error analysis only (never trained on). Each page is
rebuilt as its sentences joined by a space and run through ``Classifier.label_texts``, so
segmentation and context count. Every gold sentence takes the label of the predicted sentence
that overlaps it most. Prints macro-F1, opinion recall, fact precision, quotation F1 and the
expected calibration error (ECE) of each model, and with ``--errors`` the misses.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import precision_recall_fscore_support

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from corpus import commentary_page, read_commentary_pages  # noqa: E402

from factsift import Classifier  # noqa: E402
from factsift.inputs import document_inputs  # noqa: E402
from factsift.segment import Sentence, split_sentences  # noqa: E402

LABELS = ["fact", "quotation", "opinion"]
COMMENTARY_DEV = REPO.parent / "shared" / "data" / "commentary_dev" / "commentary_dev.jsonl"


@dataclass(frozen=True)
class GoldSentence:
    """One labelled commentary_dev sentence and where it sits in its rebuilt page."""

    page: int
    start: int
    end: int
    text: str
    label: str


def load_pages(path: Path = COMMENTARY_DEV) -> tuple[list[str], list[GoldSentence]]:
    """Rebuilt page texts and their labelled (non-``skip``) sentences."""
    if not path.is_file():
        raise SystemExit(f"{path} is missing (the shared data folder must sit beside the repo)")
    texts, gold = [], []
    for rows in read_commentary_pages(path).values():
        text, spans = commentary_page(rows)
        gold += [GoldSentence(len(texts), start, end, row["text"], row["label"])
                 for row, (start, end) in zip(rows, spans) if row["label"] != "skip"]
        texts.append(text)
    return texts, gold


def best_overlap(spans: Sequence[tuple[int, int]], start: int, end: int) -> int:
    """Index of the span overlapping ``[start, end)`` most."""
    return int(np.argmax([min(end, e) - max(start, s) for s, e in spans]))


def page_rows(text: str) -> tuple[list[Sentence], list[dict]]:
    """The segmenter's sentences of a page and sentence-predictor rows (text, raw_text, context)."""
    sentences = split_sentences(text)
    rows = [{"text": model_text, "raw_text": sentence.text, "context_before": before, "context_after": after}
            for sentence, (model_text, before, after) in zip(sentences, document_inputs(sentences, 1))]
    return sentences, rows


def predict_with_classifier(classifier: Classifier, texts: list[str], gold: list[GoldSentence]
                            ) -> tuple[list[str], np.ndarray]:
    """Labels and score rows for the gold sentences, via ``label_texts`` on whole pages."""
    labelled = list(classifier.label_texts(texts))
    labels, probabilities = [], []
    for item in gold:
        page = labelled[item.page]
        hit = page[best_overlap([(s.start, s.end) for s in page], item.start, item.end)]
        labels.append(hit.label)
        probabilities.append([hit.scores.get(label, 0.0) for label in LABELS])
    return labels, np.array(probabilities)


def predict_with_rows(predict, texts: list[str], gold: list[GoldSentence]) -> list[str]:
    """Labels for the gold sentences from a sentence predictor over the segmented pages."""
    per_page = []
    for text in texts:
        sentences, rows = page_rows(text)
        per_page.append((sentences, predict(rows)))
    labels = []
    for item in gold:
        sentences, predicted = per_page[item.page]
        labels.append(predicted[best_overlap([(s.start, s.end) for s in sentences], item.start, item.end)])
    return labels


def expected_calibration_error(probabilities: np.ndarray, gold: Sequence[str], bins: int = 10) -> float:
    """ECE of the top label's probability over ``bins`` equal-width confidence bins."""
    confidence = probabilities.max(axis=1)
    correct = np.array([LABELS[i] == g for i, g in zip(probabilities.argmax(axis=1), gold)])
    edges = np.linspace(0, 1, bins + 1)
    error = 0.0
    for low, high in zip(edges[:-1], edges[1:]):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return float(error)


def commentary_scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    """macro-F1, opinion recall, fact precision and quotation F1."""
    precision, recall, f1, _ = precision_recall_fscore_support(gold, predicted, labels=LABELS, zero_division=0)
    return {"macro_f1": float(f1.mean()), "opinion_recall": float(recall[2]),
            "fact_precision": float(precision[0]), "quotation_f1": float(f1[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="*", default=[None], help="model directories (default: the shipped model)")
    parser.add_argument("--backend", default="auto", choices=["auto", "torch", "onnx"])
    parser.add_argument("--errors", action="store_true", help="list the misclassified sentences (last model)")
    args = parser.parse_args()
    texts, gold = load_pages()
    gold_labels = [item.label for item in gold]
    print(f"commentary_dev: {len(texts)} pages, {len(gold)} labelled sentences\n")
    print("| model | macro-F1 | opinion recall | fact precision | quotation F1 | ECE |")
    print("|---|---|---|---|---|---|")
    for model in args.model:
        classifier = Classifier.from_pretrained(model, device="cpu", backend=args.backend)
        predicted, probabilities = predict_with_classifier(classifier, texts, gold)
        s = commentary_scores(gold_labels, predicted)
        print(f"| {model or 'shipped'} | {s['macro_f1']:.3f} | {s['opinion_recall']:.3f} | {s['fact_precision']:.3f} | "
              f"{s['quotation_f1']:.3f} | {expected_calibration_error(probabilities, gold_labels):.3f} |")
    if args.errors:
        for item, label in zip(gold, predicted):
            if label != item.label:
                print(f"{item.label:>9} -> {label:<9} {item.text[:150]}")


if __name__ == "__main__":
    main()
