"""Accuracy of factsift against the tools a user would pick instead, on held-out sentences.

    python benchmarks/corpus.py            # builds build/corpus/{train,dev,test}.jsonl
    python benchmarks/accuracy.py [--model DIR] [--corpus build/corpus]

Systems, all scored on the test split (never used for training or model selection):
- factsift: the shipped model (or --model), sentences with their neighbours as context, and
  the same model given the sentence alone;
- TF-IDF + logistic regression trained on the same train split, C chosen on dev;
- TextBlob subjectivity, threshold chosen on dev (opinion above it, fact below; no quotation);
- rules-only quote detector: quotation when most of the sentence is inside quote marks, or a
  quote of 4+ words stands beside a speech verb; fact otherwise (no opinion);
- rules + TextBlob: the quote rules first, TextBlob for the rest.

Prints: three-way macro-F1 and per-class F1, binary opinion-vs-rest macro-F1 (the CheckThat!
metric) on the whole test split and on its CheckThat! part, three-way macro-F1 on commentary_dev
(pages run as documents, see commentary_dev.py; a selection set, so not a test figure), prediction time per 1,000 sentences
(ratio to TF-IDF, measured in this run), and quotation precision/recall on the hand-decided
held-out sentences (hand-written hard cases and hand-checked CheckThat! sentences with quote
marks), where scare quotes and quoted titles count as negatives.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import sys

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

from factsift import Classifier
from factsift.segment import split_sentences

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import commentary_dev  # noqa: E402
LABELS = ["fact", "quotation", "opinion"]
QUOTE_VERBS_FILE = REPO.parent / "shared" / "data" / "ggt_quote_verbs" / "quote_verb_list.txt"
QUOTE_MARK = re.compile("[\"“”«»]")
QUOTED_SPAN = re.compile(r"\"([^\"]+)\"|“([^”]+)”|«([^»]+)»")
Rows = list[dict]
Predictor = Callable[[Rows], list[str]]


def read_split(corpus: Path, name: str) -> Rows:
    path = corpus / f"{name}.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python benchmarks/corpus.py` first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---- systems -----------------------------------------------------------------------------
def factsift_predictor(classifier: Classifier, with_context: bool = True) -> Predictor:
    def predict(rows: Rows) -> list[str]:
        before = [r["context_before"] if with_context else "" for r in rows]
        after = [r["context_after"] if with_context else "" for r in rows]
        return classifier.predict([r["text"] for r in rows], before, after, batch_size=64)

    return predict


def tfidf_predictor(train: Rows, dev: Rows) -> tuple[Predictor, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union
    from sklearn.feature_extraction.text import TfidfVectorizer

    def fit(c: float):
        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=3, sublinear_tf=True),
        )
        model = make_pipeline(features, LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
        return model.fit([r["text"] for r in train], [r["label"] for r in train])

    scored = []
    for c in (0.3, 1.0, 3.0, 10.0):
        model = fit(c)
        predicted = model.predict([r["text"] for r in dev])
        scored.append((f1_score([r["label"] for r in dev], predicted, average="macro"), c, model))
    _, best_c, best = max(scored, key=lambda item: item[0])
    return (lambda rows: list(best.predict([r["text"] for r in rows]))), best_c


def textblob_scores(rows: Rows) -> np.ndarray:
    from textblob import TextBlob

    return np.array([TextBlob(r["raw_text"]).sentiment.subjectivity for r in rows])


def tune_threshold(dev: Rows) -> float:
    scores = textblob_scores(dev)
    gold = [r["label"] == "opinion" for r in dev]
    candidates = np.unique(np.round(scores, 3))
    return float(max(candidates, key=lambda t: f1_score(gold, scores > t, average="macro")))


def textblob_predictor(threshold: float) -> Predictor:
    return lambda rows: ["opinion" if s > threshold else "fact" for s in textblob_scores(rows)]


def load_speech_verbs() -> frozenset[str]:
    if not QUOTE_VERBS_FILE.is_file():
        raise SystemExit(f"{QUOTE_VERBS_FILE} is missing (the shared data folder must sit beside the repo)")
    return frozenset(QUOTE_VERBS_FILE.read_text(encoding="utf-8").split())


def is_quotation_by_rules(text: str, speech_verbs: frozenset[str]) -> bool:
    """Most of the sentence is quoted, or a quote of 4+ words stands beside a speech verb."""
    sentences = split_sentences(text)
    quoted = sum(s.quote_share * len(s.text) for s in sentences) / max(1, sum(len(s.text) for s in sentences))
    if quoted >= 0.5:
        return True
    longest = max((len("".join(g for g in m.groups() if g).split()) for m in QUOTED_SPAN.finditer(text)), default=0)
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", text)}
    return longest >= 4 and bool(words & speech_verbs)


def rules_predictor(speech_verbs: frozenset[str], fallback: Predictor | None = None) -> Predictor:
    def predict(rows: Rows) -> list[str]:
        rest = fallback(rows) if fallback else ["fact"] * len(rows)
        return ["quotation" if is_quotation_by_rules(r["text"], speech_verbs) else other for r, other in zip(rows, rest)]

    return predict


# ---- scoring -----------------------------------------------------------------------------
def scores(gold: Sequence[str], predicted: Sequence[str]) -> dict[str, float]:
    _, _, f1, support = precision_recall_fscore_support(gold, predicted, labels=LABELS, zero_division=0)
    is_opinion = lambda values: [v == "opinion" for v in values]  # noqa: E731
    return {
        "macro_f1": float(np.mean(f1[support > 0])),
        **{f"f1_{label}": float(value) for label, value in zip(LABELS, f1)},
        "binary_macro_f1": float(f1_score(is_opinion(gold), is_opinion(predicted), average="macro")),
    }


def quotation_scores(gold: Sequence[str], predicted: Sequence[str]) -> tuple[float, float, float]:
    as_quote = lambda values: [v == "quotation" for v in values]  # noqa: E731
    p, r, f, _ = precision_recall_fscore_support(as_quote(gold), as_quote(predicted), average="binary", zero_division=0)
    return float(p), float(r), float(f)


def hand_decided(rows: Rows) -> list[int]:
    """Test rows whose label a person decided: hard cases, and CheckThat! sentences with quote marks."""
    return [i for i, r in enumerate(rows) if r["source"] == "hard"
            or (r["source"] == "checkthat2025_en" and QUOTE_MARK.search(r["raw_text"]))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: the shipped model)")
    parser.add_argument("--corpus", type=Path, default=REPO / "build" / "corpus")
    parser.add_argument("--json", type=Path, default=None, help="also write all numbers to this JSON file")
    args = parser.parse_args()

    train, dev, test = (read_split(args.corpus, name) for name in ("train", "dev", "test"))
    verbs = load_speech_verbs()
    tfidf, best_c = tfidf_predictor(train, dev)
    threshold = tune_threshold(dev)
    textblob = textblob_predictor(threshold)
    classifier = Classifier.from_pretrained(args.model, device="cpu")
    name = "factsift" if args.model is None else f"factsift ({args.model})"
    systems: dict[str, Predictor] = {
        name: factsift_predictor(classifier),
        f"{name}, sentence only (no context)": factsift_predictor(classifier, with_context=False),
        f"TF-IDF + logistic regression (C={best_c:g})": tfidf,
        f"TextBlob subjectivity (threshold {threshold:.2f})": textblob,
        "rules-only quote detector": rules_predictor(verbs),
        "rules + TextBlob": rules_predictor(verbs, textblob),
    }
    gold = [r["label"] for r in test]
    checkthat = [i for i, r in enumerate(test) if r["source"] == "checkthat2025_en"]
    decided = hand_decided(test)
    scare = [i for i, r in enumerate(test) if r["subset"] in ("hard:scare_quote", "hard:quoted_title")]

    pages, page_gold = commentary_dev.load_pages()
    page_gold_labels = [item.label for item in page_gold]
    results = {}
    for name, predict in systems.items():
        start = time.perf_counter()
        predicted = predict(test)
        seconds = time.perf_counter() - start
        if predict is systems[next(iter(systems))]:  # the model as users run it: whole pages through label_texts
            on_pages, _ = commentary_dev.predict_with_classifier(classifier, pages, page_gold)
        else:
            on_pages = commentary_dev.predict_with_rows(predict, pages, page_gold)
        results[name] = {
            **scores(gold, predicted),
            "commentary_dev": commentary_dev.commentary_scores(page_gold_labels, on_pages),
            "checkthat_binary_macro_f1": scores([gold[i] for i in checkthat], [predicted[i] for i in checkthat])[
                "binary_macro_f1"],
            "quotation_prf": quotation_scores([gold[i] for i in decided], [predicted[i] for i in decided]),
            "scare_quote_not_quotation": float(np.mean([predicted[i] != "quotation" for i in scare])) if scare else None,
            "seconds_per_1000": 1000 * seconds / len(test),
            "per_source": {
                source: scores([gold[i] for i in idx], [predicted[i] for i in idx])["macro_f1"]
                for source in sorted({r["source"] for r in test})
                for idx in [[i for i, r in enumerate(test) if r["source"] == source]]
            },
        }

    baseline = next(name for name in results if name.startswith("TF-IDF"))
    per_source = ", ".join(f"{s}: {n}" for s, n in sorted(Counter(r["source"] for r in test).items()))
    print(f"test split: {len(test)} sentences ({per_source}); "
          f"CheckThat! part: {len(checkthat)}; hand-decided quote set: {len(decided)} ({len(scare)} scare quotes/titles)\n")
    print("| system | 3-way macro-F1 | F1 fact | F1 quotation | F1 opinion | binary macro-F1 (all) | binary macro-F1 (CheckThat!) | commentary_dev macro-F1 | s / 1,000 sent. | time vs TF-IDF |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['macro_f1']:.3f} | {r['f1_fact']:.3f} | {r['f1_quotation']:.3f} | {r['f1_opinion']:.3f} | "
              f"{r['binary_macro_f1']:.3f} | {r['checkthat_binary_macro_f1']:.3f} | {r['commentary_dev']['macro_f1']:.3f} | "
              f"{r['seconds_per_1000']:.2f} | {r['seconds_per_1000'] / results[baseline]['seconds_per_1000']:.1f}x |")
    print(f"\ncommentary_dev ({len(pages)} pages, {len(page_gold)} sentences; used for selection):\n")
    print("| system | macro-F1 | opinion recall | fact precision | quotation F1 |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        c = r["commentary_dev"]
        print(f"| {name} | {c['macro_f1']:.3f} | {c['opinion_recall']:.3f} | {c['fact_precision']:.3f} | {c['quotation_f1']:.3f} |")
    print("\nQuotation on hand-decided held-out sentences (scare quotes and quoted titles are negatives):\n")
    print("| system | precision | recall | F1 | scare quotes/titles not called quotation |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        p, rec, f = r["quotation_prf"]
        scare_share = "n/a" if r["scare_quote_not_quotation"] is None else f"{r['scare_quote_not_quotation']:.0%}"
        print(f"| {name} | {p:.3f} | {rec:.3f} | {f:.3f} | {scare_share} |")
    sources = sorted({r["source"] for r in test})
    print("\nThree-way macro-F1 by source (averaged over the labels each source has):\n")
    print("| system | " + " | ".join(sources) + " |")
    print("|---" * (len(sources) + 1) + "|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r['per_source'][s]:.3f}" for s in sources) + " |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
