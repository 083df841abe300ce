"""The shipped form of a model directory: float16 safetensors and an int8 ONNX export side by side.

:func:`ship_model` turns a directory as ``factsift train`` writes it (float32 safetensors) into the
form the package ships: the int8 ONNX file that ``backend="auto"`` runs on CPU, next to the weights
stored in float16 (half the size; torch and ``transformers.pipeline`` load them back as float32).
It measures how often int8 and the float16 weights agree with the float32 weights, and how fast
int8 is, and writes both into the model card.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from factsift.errors import ModelLoadError
from factsift.fileio import atomic_open, replace_dir

WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "README.md"
CARD_SECTION = "## Shipped form"
Triple = tuple[str, str, str]  # (sentence, context before, context after)


@dataclass(frozen=True)
class Agreement:
    """Labels of one check set, compared with the float32 weights' labels."""

    name: str
    sentences: int
    int8: float
    float16: float


@dataclass(frozen=True)
class ShipReport:
    """What :func:`ship_model` wrote and measured."""

    output: Path
    onnx_file: str
    file_mb: dict[str, float]
    agreements: list[Agreement]
    speed_sentences: int
    float32_per_s: float
    int8_per_s: float
    threads: int


def ship_model(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike | None = None,
    checks: Mapping[str, Sequence[Triple]] | None = None,
    overwrite: bool = False,
) -> ShipReport:
    """Write the shipped form of ``model_dir`` into ``output_dir`` (default: ``model_dir`` itself).

    ``checks`` names sets of (sentence, before, after) inputs, labelled by the float32 weights, the
    int8 export and the float16 weights; the largest set also times float32 torch against int8.
    The result is built beside the output and renamed into place only when complete.
    """
    source = Path(model_dir).expanduser()
    if not (source / WEIGHTS_FILE).is_file():
        raise ModelLoadError(f"{source} has no {WEIGHTS_FILE}: pass a model directory as `factsift train` writes it")
    output = source if output_dir is None else Path(output_dir).expanduser()
    in_place = output.exists() and output.resolve() == source.resolve()
    if not in_place and output.exists() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(f"output directory {str(output)!r} is not empty; pass overwrite to replace it")
    checks = {name: list(triples) for name, triples in (checks or {}).items() if triples}
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.{uuid.uuid4().hex[:12]}.tmp"
    shutil.copytree(source, staging)
    try:
        report = _ship(staging, checks, source)
        replace_dir(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ShipReport(output=output, **report)


def _ship(directory: Path, checks: dict[str, list[Triple]], source: Path) -> dict:
    from factsift.export import write_onnx
    from factsift.model import Classifier

    float32 = Classifier.from_pretrained(directory, device="cpu", backend="torch")
    settings = write_onnx(float32, directory, "int8")
    settings.extra["export"]["source"] = str(source)  # not the staging directory it was written in
    settings.save(directory)
    save_float16_weights(directory)
    int8 = Classifier.from_pretrained(directory, device="cpu", backend="onnx")
    float16 = Classifier.from_pretrained(directory, device="cpu", backend="torch")
    agreements = []
    for name, triples in checks.items():
        reference = _labels(float32, triples)
        agreements.append(Agreement(name, len(triples), _share_equal(_labels(int8, triples), reference),
                                    _share_equal(_labels(float16, triples), reference)))
    timed = max(checks.values(), key=len, default=[])
    report = {
        "onnx_file": int8.settings.onnx_file,
        "file_mb": {path.name: path.stat().st_size / 1e6 for path in sorted(directory.iterdir()) if path.is_file()},
        "agreements": agreements,
        "speed_sentences": len(timed),
        "float32_per_s": _sentences_per_second(float32, timed),
        "int8_per_s": _sentences_per_second(int8, timed),
        "threads": int8.backend.session.get_session_options().intra_op_num_threads,
    }
    card = directory / CARD_FILE
    text = card.read_text(encoding="utf-8") if card.is_file() else ""
    with atomic_open(card) as stream:
        stream.write(with_shipped_section(text, _card_section(report)))
    return report


def save_float16_weights(directory: str | os.PathLike) -> Path:
    """Rewrite ``model.safetensors`` with its float32 tensors in float16, atomically.

    ``config.json`` keeps ``dtype: float32``, so ``transformers`` (the pipeline included) and the torch
    backend load the weights back as float32.
    """
    import torch
    from safetensors.torch import load_file, save

    path = Path(directory) / WEIGHTS_FILE
    tensors = {name: tensor.half() if tensor.dtype == torch.float32 else tensor
               for name, tensor in load_file(path).items()}
    with atomic_open(path, "wb") as stream:
        stream.write(save(tensors, metadata={"format": "pt"}))
    return path


def with_shipped_section(card: str, section: str) -> str:
    """``card`` with its shipped-form section (from ``CARD_SECTION`` to the next ``## `` heading)
    replaced by ``section``, or ``section`` appended."""
    start = card.find(f"\n{CARD_SECTION}\n")
    if start < 0:
        return card.rstrip("\n") + "\n\n" + section
    end = card.find("\n## ", start + 1)
    return card[: start + 1] + section + ("\n" + card[end + 1 :] if end >= 0 else "")


def _labels(classifier, triples: list[Triple]) -> list[str]:
    sentences, before, after = (list(column) for column in zip(*triples))
    return classifier.predict(sentences, before, after)


def _share_equal(labels: list[str], reference: list[str]) -> float:
    return sum(a == b for a, b in zip(labels, reference)) / len(reference)


def _sentences_per_second(classifier, triples: list[Triple]) -> float:
    """Sentences per second of ``classifier.predict`` on ``triples`` (fastest of two passes after a warm-up)."""
    if not triples:
        return 0.0
    _labels(classifier, triples[:32])
    passes = []
    for _ in range(2):
        start = time.perf_counter()
        _labels(classifier, triples)
        passes.append(time.perf_counter() - start)
    return len(triples) / min(passes)


def _card_section(report: dict) -> str:
    sizes = ", ".join(f"`{name}` {size:.1f} MB" for name, size in report["file_mb"].items() if size >= 0.1)
    rows = "".join(
        f"| {a.name} | {a.sentences:,} | {a.int8:.2%} | {a.float16:.2%} |\n" for a in report["agreements"]
    )
    speed = (
        f"Speed on the {report['speed_sentences']:,} sentences of the largest set, one process, "
        f"{os.cpu_count()} CPUs, {report['threads']} threads, load average {os.getloadavg()[0]:.1f}: "
        f"torch float32 {report['float32_per_s']:.0f} sentences/s, int8 ONNX "
        f"{report['int8_per_s']:.0f} sentences/s ({report['int8_per_s'] / report['float32_per_s']:.1f}x).\n"
        if report["speed_sentences"] else ""
    )
    return f"""{CARD_SECTION}

Written by `python benchmarks/ship_model.py` (`factsift.ship.ship_model`): `{report['onnx_file']}` is the
int8 ONNX export of the float32 weights, which `Classifier.from_pretrained()` and `factsift label` run on
CPU by default (`backend="torch"` / `--backend torch` runs the weights instead). The weights are then
stored in float16; torch and `transformers.pipeline` load them back as float32. Files: {sizes}.

Labels that agree with the float32 weights' labels:

| check set | sentences | int8 ONNX | float16 weights |
|---|---:|---:|---:|
{rows}
{speed}"""
