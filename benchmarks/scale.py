"""Single machine against Ray and Spark on the same archive: speed at equal cores and agreement.

    python benchmarks/scale.py [--model DIR] [--backend torch|onnx-int8] [--documents N]

The archive is the Webis editorials corpus (../shared/data/webis_editorials16, 300 editorials
rebuilt from their annotated units), repeated under new ids up to ``--documents`` documents,
written as one JSONL file into a temp dir. Each configuration runs ``factsift label --engine ...``
in a fresh process, one CPU thread per worker: single machine with 1 and 2 threads, Ray with 1
and 2 workers, Spark ``local[1]`` and ``local[2]``. Times are wall clock of the whole command,
engine start-up included. Every output is compared row by row with the single-machine one (same
part files): rows missing or duplicated, labels identical. The load average is printed with each
row; the ratios mean little on a busy machine. ``--backend onnx-int8`` exports the model into the
temp dir first. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MODEL = REPO / "models" / "factsift-minilm"
EDITORIALS = REPO.parent / "shared" / "data" / "webis_editorials16" / "annotated-txt"
CONFIGS = [("local", 1), ("ray", 1), ("spark", 1), ("local", 2), ("ray", 2), ("spark", 2)]


def editorials() -> list[str]:
    """Each editorial's text, rebuilt from its units (a ``par-sep`` unit starts a new paragraph)."""
    texts = []
    for file in sorted(EDITORIALS.rglob("*.txt")):
        paragraphs, current = [], []
        for line in file.read_text(encoding="utf-8").splitlines():
            fields = line.split("\t")
            if len(fields) < 3 or fields[1] == "title":
                continue
            if fields[1] == "par-sep":
                paragraphs.append(" ".join(current))
                current = []
            else:
                current.append(fields[2])
        paragraphs.append(" ".join(current))
        text = "\n\n".join(p for p in paragraphs if p.strip())
        texts.append(text.replace(" .", ".").replace(" ,", ","))
    return texts


def write_archive(path: Path, count: int) -> None:
    texts = editorials()
    if not texts:
        sys.exit(f"no editorials under {EDITORIALS}")
    with path.open("w", encoding="utf-8") as stream:
        for index in range(count):
            stream.write(json.dumps({"id": f"e{index}", "text": texts[index % len(texts)]}) + "\n")


def run(archive: Path, output: Path, model: Path, engine: str, workers: int) -> float:
    """Seconds ``factsift label --engine`` takes, in a fresh process."""
    threads = workers if engine == "local" else 1
    command = [
        str(Path(sys.executable).with_name("factsift")), "label", str(archive), "--engine", engine, "--workers", str(workers),
        "--threads", str(threads), "--model", str(model), "--output", str(output), "--no-progress",
    ]
    start = time.perf_counter()
    subprocess.run(command, check=True, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return time.perf_counter() - start


def read_rows(folder: Path) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))], ignore_index=True)


def compare(rows: pd.DataFrame, reference: pd.DataFrame) -> tuple[int, int, float]:
    """(rows missing, rows duplicated, share of identical labels) against ``reference``."""
    key = ["doc_id", "sentence_index"]
    duplicated = int(rows.duplicated(key).sum())
    merged = reference.merge(rows.drop_duplicates(key), on=key, how="left", suffixes=("", "_run"), indicator=True)
    missing = int((merged["_merge"] == "left_only").sum())
    return missing, duplicated, float((merged["label"] == merged["label_run"]).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--backend", choices=("torch", "onnx-int8"), default="torch")
    parser.add_argument("--documents", type=int, default=600, help="about 33 sentences each (default: 600)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        temp = Path(temp)
        model = args.model
        if args.backend == "onnx-int8":
            from factsift.export import export_model

            model = export_model(args.model, temp / "int8", quantize="int8")
        archive = temp / "archive.jsonl"
        write_archive(archive, args.documents)
        results, reference, base = [], None, {}
        for engine, workers in CONFIGS:
            load = os.getloadavg()[0]
            seconds = run(archive, temp / f"{engine}-{workers}", model, engine, workers)
            rows = read_rows(temp / f"{engine}-{workers}")
            reference = rows if reference is None else reference
            missing, duplicated, agreement = compare(rows, reference)
            rate = len(rows) / seconds
            base.setdefault(workers, rate)
            results.append((engine, workers, len(rows), seconds, rate, rate / base[workers], agreement, missing,
                            duplicated, load, os.getloadavg()[0]))
    print(f"{args.documents} documents, model {args.model.name} ({args.backend}), {os.cpu_count()} CPUs\n")
    print("| engine | cores | sentences | seconds | sentences/s | vs single machine, same cores | labels identical "
          "| missing | duplicated | load before/after |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for engine, cores, count, seconds, rate, ratio, agreement, missing, duplicated, before, after in results:
        print(f"| {engine} | {cores} | {count:,} | {seconds:.1f} | {rate:.0f} | {ratio:.2f} | {agreement:.2%} "
              f"| {missing} | {duplicated} | {before:.1f}/{after:.1f} |")


if __name__ == "__main__":
    main()
