"""Turn a trained model directory into the form factsift ships, and record agreement and speed.

    python benchmarks/ship_model.py MODEL_DIR [--output DIR] [--overwrite] [--corpus-test FILE]

Writes, in place (or into --output): the int8 ONNX export (``model_int8.onnx``, named by
``onnx_file`` in factsift.json) that ``backend="auto"`` runs on CPU, and the weights re-saved as
float16 safetensors. Agreement of int8 and of the float16 weights with the float32 weights is
measured on the sentences of benchmarks/data/hard_cases.jsonl and, when it exists, on the corpus
test split (build/corpus/test.jsonl, built by benchmarks/corpus.py); int8 and float32 speed on the
larger set. Both go into the model card (section "Shipped form"). Run it on the float32 directory
that ``factsift train`` wrote: run again on its own output, the float16 weights become the reference.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HARD_CASES = REPO / "benchmarks" / "data" / "hard_cases.jsonl"
CORPUS_TEST = REPO / "build" / "corpus" / "test.jsonl"


def hard_case_inputs(window: int) -> list[tuple[str, str, str]]:
    """(sentence, before, after) for every sentence of the hard-case documents, as label_text builds them."""
    from factsift.inputs import document_inputs
    from factsift.segment import split_sentences

    with HARD_CASES.open(encoding="utf-8") as stream:
        texts = [json.loads(line)["text"] for line in stream if line.strip()]
    return [triple for text in texts for triple in document_inputs(split_sentences(text), window)]


def corpus_inputs(path: Path, window: int) -> list[tuple[str, str, str]]:
    """(sentence, before, after) of a corpus split; the context only for a model trained with one."""
    with path.open(encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    if window == 0:
        return [(row["text"], "", "") for row in rows]
    return [(row["text"], row.get("context_before") or "", row.get("context_after") or "") for row in rows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, metavar="MODEL_DIR", help="a model directory as `factsift train` writes it")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write here instead of into MODEL_DIR")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --output")
    parser.add_argument("--corpus-test", type=Path, default=CORPUS_TEST, metavar="FILE",
                        help="a larger check set, JSONL with text/context_before/context_after "
                        "(default: build/corpus/test.jsonl, used when it exists)")
    args = parser.parse_args(argv)

    from factsift.model import load_settings
    from factsift.ship import ship_model

    window = load_settings(str(args.model)).context_window
    checks = {f"{HARD_CASES.name} sentences": hard_case_inputs(window)}
    if args.corpus_test.is_file():
        checks[f"{args.corpus_test.name} ({args.corpus_test.parent.name} test split)"] = corpus_inputs(
            args.corpus_test, window
        )
    else:
        print(f"ship_model: {args.corpus_test} not found: checking on the hard cases only", file=sys.stderr)
    report = ship_model(args.model, args.output, checks=checks, overwrite=args.overwrite)
    for name, size in report.file_mb.items():
        print(f"{name}: {size:.1f} MB")
    for agreement in report.agreements:
        print(f"{agreement.name}: {agreement.sentences} sentences; agreement with float32: "
              f"int8 {agreement.int8:.2%}, float16 {agreement.float16:.2%}")
    print(f"speed on {report.speed_sentences} sentences: float32 torch {report.float32_per_s:.0f}/s, "
          f"int8 ONNX {report.int8_per_s:.0f}/s")
    print(f"wrote {report.output}")


if __name__ == "__main__":
    main()
