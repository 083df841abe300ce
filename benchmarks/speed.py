"""Speed, memory and agreement of factsift's backends against a plain transformers pipeline.

    python benchmarks/speed.py [--model DIR] [--sentences N] [--batch-size N] [--threads N]

In one run, each configuration labels the same sentences in a fresh subprocess (so its peak
memory is its own): (a) ``transformers.pipeline("text-classification")`` with ``batch_size``, the
baseline a user would write and the one every ratio is to; (a') the same pipeline called without
``batch_size`` (one sentence per forward pass); (b) factsift torch fp32 ``Classifier.predict``;
(c) factsift ONNX fp32; (d) factsift ONNX int8 (both exported into a temp dir during the run).
Factsift runs twice: on the sentence alone (the pipeline's input, a like-for-like speed
comparison) and with its neighbours as context (what ``label_text`` does; skipped when the model
has ``context_window`` 0). Last, (e) ``factsift label`` end to end with its default backend (the
int8 ONNX file of the shipped form) and with ``--backend torch``, on the timed sentences written as
text files: model load, reading, segmentation, context, labelling and writing JSONL all timed.

Timed sentences come from ../shared/examples/commentary_taiwan.txt (examples/commentary.txt
without ../shared) and, when built
(benchmarks/corpus.py), a seeded sample of build/corpus/test.jsonl. After timing, each
configuration labels the whole test split (never used for training or model selection) once:
agreement is the share of its labels equal to torch fp32's on the same input, macro-F1 is
against the gold labels. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "factsift-minilm"
SHARED_EXAMPLE = REPO.parent / "shared" / "examples" / "commentary_taiwan.txt"
EXAMPLE = SHARED_EXAMPLE if SHARED_EXAMPLE.is_file() else REPO / "examples" / "commentary.txt"
CORPUS_TEST = REPO / "build" / "corpus" / "test.jsonl"
SEED = 13
FILES = "files"  # the input kind of the `factsift label` end-to-end rows
CLI_DEFAULT = "`factsift label` (default backend)"
CLI_TORCH = "`factsift label --backend torch`"
INPUT_NAMES = {False: "sentence", True: "in context", FILES: "files → JSONL"}


# ---- inputs ------------------------------------------------------------------------------------
def test_rows() -> list[dict]:
    """The corpus test split as rows {text, before, after, label}; empty when it is not built."""
    if not CORPUS_TEST.is_file():
        return []
    with CORPUS_TEST.open(encoding="utf-8") as stream:
        corpus = [json.loads(line) for line in stream if line.strip()]
    return [{"text": r["text"], "before": r.get("context_before") or "", "after": r.get("context_after") or "",
             "label": r.get("label")} for r in corpus]


def load_inputs(count: int, window: int) -> tuple[list[dict], str]:
    """Up to ``count`` rows {text, before, after, label|None}: the example text, then corpus test rows."""
    from factsift.inputs import document_inputs
    from factsift.segment import split_sentences

    rows, sources = [], []
    if EXAMPLE.is_file():
        sentences = split_sentences(EXAMPLE.read_text(encoding="utf-8"))
        triples = document_inputs(sentences, max(window, 1))
        rows += [{"text": t, "before": b, "after": a, "label": None} for t, b, a in triples]
        sources.append(f"{len(rows)} sentences of {EXAMPLE.name}")
    corpus = test_rows()
    if corpus:
        wanted = max(0, count - len(rows))
        sample = random.Random(SEED).sample(corpus, min(wanted, len(corpus)))
        rows += sample
        sources.append(f"{len(sample)} of {len(corpus)} sentences of {CORPUS_TEST.relative_to(REPO)} (seed {SEED})")
    else:
        sources.append(f"{CORPUS_TEST.relative_to(REPO)} not built: no macro-F1 (run benchmarks/corpus.py)")
    if not rows:
        sys.exit(f"no input sentences: neither {EXAMPLE} nor {CORPUS_TEST} exists")
    if len(rows) < count:
        sources.append(f"repeated to {count}")
        rows = [rows[i % len(rows)] for i in range(count)]
    return rows[:count], "; ".join(sources)


# ---- one configuration, in its own process ------------------------------------------------------
def worker(spec: dict) -> dict:
    """Load one configuration, label the inputs, and report labels, time and memory."""
    import onnxruntime  # noqa: F401  imported by every worker so that memory deltas compare like with like
    import torch
    import transformers

    from factsift.model import Classifier

    if spec["threads"]:
        torch.set_num_threads(spec["threads"])  # factsift's ONNX sessions follow torch's thread count
    if spec["backend"] == "cli":
        return cli_worker(spec)
    texts, before, after = read_inputs(spec["inputs"], spec["context"])
    batch_size = spec["batch_size"]
    baseline_mb = peak_rss_mb()

    start = time.perf_counter()
    if spec["backend"] == "pipeline":
        transformers.logging.set_verbosity_error()
        pipe = transformers.pipeline("text-classification", model=spec["model"], device="cpu")

        def label(texts: list[str], before, after) -> list[str]:
            batching = {"batch_size": batch_size} if spec["batched"] else {}
            return [out["label"] for out in pipe(texts, truncation=True, **batching)]

        threads = torch.get_num_threads()
    else:
        classifier = Classifier.from_pretrained(spec["model"], device="cpu", backend=spec["backend"])

        def label(texts: list[str], before, after) -> list[str]:
            return classifier.predict(texts, before, after, batch_size=batch_size)

        session = getattr(classifier.backend, "session", None)
        threads = session.get_session_options().intra_op_num_threads if session else torch.get_num_threads()
    load_s = time.perf_counter() - start

    label(texts[:batch_size], before and before[:batch_size], after and after[:batch_size])  # warm-up
    passes = []
    for _ in range(spec["repeat"]):  # the fastest pass is the one least disturbed by other processes
        start = time.perf_counter()
        label(texts, before, after)
        passes.append(time.perf_counter() - start)
    peak_mb = peak_rss_mb()
    return {"labels": label(*read_inputs(spec["evaluation"], spec["context"])), "seconds": min(passes),
            "load_s": load_s, "threads": threads, "peak_mb": peak_mb, "delta_mb": peak_mb - baseline_mb}


def cli_worker(spec: dict) -> dict:
    """Time ``factsift label DOCS --output FILE`` in this process: loading the model, reading the files,
    segmentation, context, labelling and writing JSONL, all counted."""
    from factsift.cli import main as factsift_main

    baseline_mb = peak_rss_mb()
    output = Path(spec["output"])
    command = ["label", spec["inputs"], "--model", spec["model"], "--backend", spec["cli_backend"],
               "--output", str(output), "--overwrite", "--no-progress", "--batch-size", str(spec["batch_size"])]
    if spec["threads"]:
        command += ["--threads", str(spec["threads"])]
    passes = []
    for _ in range(spec["repeat"] + 1):  # the first pass warms the file cache and the imports
        start = time.perf_counter()
        if factsift_main(command) != 0:
            raise SystemExit(f"factsift {' '.join(command)} failed")
        passes.append(time.perf_counter() - start)
    with output.open(encoding="utf-8") as stream:
        rows = sorted((json.loads(line) for line in stream), key=lambda r: (r["doc_id"], r["sentence_index"]))
    peak_mb = peak_rss_mb()
    return {"labels": [row["label"] for row in rows], "seconds": min(passes[1:]), "load_s": float("nan"),
            "threads": spec["threads"] or torch_threads(), "peak_mb": peak_mb, "delta_mb": peak_mb - baseline_mb}


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def write_documents(rows: list[dict], directory: Path, per_document: int = 10) -> None:
    """The timed sentences as text files of ``per_document`` sentences each, for ``factsift label``."""
    directory.mkdir()
    for number, start in enumerate(range(0, len(rows), per_document)):
        text = " ".join(row["text"] for row in rows[start : start + per_document])
        (directory / f"doc-{number:05d}.txt").write_text(text + "\n", encoding="utf-8")


def read_inputs(path: str, context: bool) -> tuple[list[str], list[str] | None, list[str] | None]:
    """Texts, and their contexts when ``context``, from a JSONL file written by ``benchmark``."""
    with open(path, encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream]
    texts = [row["text"] for row in rows]
    if not context:
        return texts, None, None
    return texts, [row["before"] for row in rows], [row["after"] for row in rows]


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB.

    Linux's VmHWM starts afresh at exec; ``ru_maxrss`` would carry over the parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / 1024 / (1024 if sys.platform == "darwin" else 1)


def run_worker(spec: dict) -> dict:
    command = [sys.executable, __file__, "--worker", json.dumps(spec)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"worker {spec['name']} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- the run ------------------------------------------------------------------------------------
def mean_tokens(tokenizer, rows: list[dict], context: bool, max_length: int) -> float:
    from factsift.inputs import encode_triples

    triples = [(r["text"], r["before"], r["after"]) if context else (r["text"], "", "") for r in rows]
    lengths = [int(encode_triples(tokenizer, triples[i : i + 64], max_length)["attention_mask"].sum())
               for i in range(0, len(triples), 64)]
    return sum(lengths) / len(triples)


def macro_f1(rows: list[dict], predicted: list[str], labels: list[str]) -> float | None:
    from sklearn.metrics import f1_score

    pairs = [(row["label"], label) for row, label in zip(rows, predicted) if row["label"] in labels]
    if not pairs:
        return None
    gold, guess = zip(*pairs)
    return float(f1_score(gold, guess, labels=labels, average="macro", zero_division=0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL if DEFAULT_MODEL.is_dir() else None,
                        help=f"a torch factsift model directory (default: {DEFAULT_MODEL.relative_to(REPO)})")
    parser.add_argument("--sentences", type=int, default=1000, help="sentences timed per configuration")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads per configuration (default: torch's default, physical cores)")
    parser.add_argument("--repeat", type=int, default=2, help="passes per configuration; the fastest counts")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    if args.model is None:
        parser.error(f"the default model {DEFAULT_MODEL} does not exist yet; pass --model DIR")
    if min(args.sentences, args.batch_size, args.repeat, args.threads or 1) < 1:
        parser.error("--sentences, --batch-size, --threads and --repeat must be >= 1")
    if not (args.model / "config.json").is_file():
        parser.error(f"--model {args.model} is not a model directory (no config.json)")

    from transformers import AutoTokenizer

    from factsift.model import load_settings

    settings = load_settings(str(args.model))
    if not (args.model / "model.safetensors").is_file():
        parser.error(f"--model {args.model} has no torch weights; pass the torch model it was exported from")
    args.load_before = os.getloadavg()[0]
    rows, source = load_inputs(args.sentences, settings.context_window)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    work = Path(tempfile.mkdtemp(prefix="factsift-speed-"))
    try:
        benchmark(args, settings, rows, source, tokenizer, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def benchmark(args, settings, rows: list[dict], source: str, tokenizer, work: Path) -> None:
    """Export, run every configuration in its own process, print the table."""
    from factsift.export import export_model

    evaluation_rows = test_rows() or rows
    inputs, evaluation = work / "inputs.jsonl", work / "evaluation.jsonl"
    for path, written in ((inputs, rows), (evaluation, evaluation_rows)):
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in written), encoding="utf-8")

    exports = {}
    for name, quantize in (("fp32", None), ("int8", "int8")):
        start = time.perf_counter()
        exports[name] = export_model(args.model, work / name, quantize=quantize)
        exports[name + "_s"] = time.perf_counter() - start

    configs = [
        (f"transformers pipeline, batch_size={args.batch_size}", "pipeline", str(args.model), False),
        ("transformers pipeline, no batch_size", "pipeline-unbatched", str(args.model), False),
    ]
    modes = [False, True] if settings.context_window > 0 else [False]
    for context in modes:
        configs += [
            ("factsift torch fp32", "torch", str(args.model), context),
            ("factsift ONNX fp32", "onnx", str(exports["fp32"]), context),
            ("factsift ONNX int8", "onnx", str(exports["int8"]), context),
        ]
    # `factsift label` end to end, as users run it: the shipped form's default backend (int8 ONNX; the
    # int8 export above when --model has none yet) and --backend torch, its agreement reference
    documents = work / "documents"
    write_documents(rows, documents)
    default_model = args.model if settings.onnx_file else exports["int8"]
    configs += [
        (CLI_DEFAULT, "cli:auto", str(default_model), FILES),
        (CLI_TORCH, "cli:torch", str(args.model), FILES),
    ]
    results = []
    for name, backend, model, context in configs:
        spec = {"name": name, "backend": backend.removesuffix("-unbatched").partition(":")[0],
                "cli_backend": backend.partition(":")[2], "batched": "unbatched" not in backend,
                "model": model, "context": context, "inputs": str(documents if context == FILES else inputs),
                "output": str(work / "labels.jsonl"), "evaluation": str(evaluation),
                "batch_size": args.batch_size, "threads": args.threads, "repeat": args.repeat}
        results.append((name, context, run_worker(spec)))
        print(f"  done: {name} ({INPUT_NAMES[context]})", file=sys.stderr, flush=True)

    baseline = args.sentences / results[0][2]["seconds"]
    reference = {context: result["labels"] for name, context, result in results
                 if name in ("factsift torch fp32", CLI_TORCH)}
    tokens = {context: mean_tokens(tokenizer, rows, context, settings.max_length) for context in modes}
    size = {name: sum(p.stat().st_size for p in exports[name].glob("*.onnx")) / 1e6 for name in ("fp32", "int8")}
    scored = "the test split" if evaluation_rows is not rows else "the timed sentences (test split not built)"

    print(f"## factsift speed: `{args.model}`\n")
    print(f"`{' '.join(['python benchmarks/speed.py', *sys.argv[1:]])}`")
    print(f"\nTimed: {args.sentences} sentences ({source}); batch size {args.batch_size}; fastest of "
          f"{args.repeat} passes; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
          f"load average {args.load_before:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"torch threads {results[0][2]['threads']}, "
          f"onnxruntime intra-op threads {results[-1][2]['threads']}.")
    print(f"Mean tokens per input: sentence {tokens[False]:.1f}"
          + (f", in context {tokens[True]:.1f}" if True in tokens else "") + ". "
          f"Export took {exports['fp32_s']:.0f} s (fp32, {size['fp32']:.0f} MB) and "
          f"{exports['int8_s']:.0f} s (int8, {size['int8']:.0f} MB).")
    print(f"Agreement and macro-F1: {len(evaluation_rows)} sentences of {scored}.\n")
    print("| configuration | input | sentences/s | × pipeline | load s | peak RSS MB | Δ RSS MB "
          "| agreement vs torch fp32 | macro-F1 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, context, result in results:
        counted = len(result["labels"]) if context == FILES else args.sentences
        speed = counted / result["seconds"]
        agree = sum(a == b for a, b in zip(result["labels"], reference[context])) / len(reference[context])
        f1 = None if context == FILES else macro_f1(evaluation_rows, result["labels"], settings.labels)
        load = "in time" if context == FILES else f"{result['load_s']:.1f}"
        print(f"| {name} | {INPUT_NAMES[context]} | {speed:.1f} | {speed / baseline:.2f} "
              f"| {load} | {result['peak_mb']:.0f} | {result['delta_mb']:.0f} | {agree:.2%} "
              f"| {'—' if f1 is None else f'{f1:.3f}'} |")
    print(f"\n`factsift label` rows: the timed sentences written as {len(list(documents.iterdir()))} text files of 10 "
          "sentences, labelled by `factsift label DIR --output FILE` in-process (model load, reading, "
          "segmentation, context, labelling and writing JSONL all timed; sentences as the segmenter finds them, "
          f"{len(results[-1][2]['labels'])}); its agreement is with `--backend torch` on the same files.")
    print("\nΔ RSS: peak resident memory above the worker's own after importing torch, transformers and "
          "onnxruntime (model + inference), measured after timing. Agreement is with torch fp32 on the same "
          "input. On a CPU shared with other processes, torch's OpenMP threads spin-wait and can run several "
          "times slower: compare with `--threads 1`.")


if __name__ == "__main__":
    main()
