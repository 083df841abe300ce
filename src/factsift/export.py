"""ONNX export (fp32 or int8) of a factsift model directory.

``export_model`` writes a normal factsift model directory whose ``factsift.json`` names the ONNX
file; ``Classifier.from_pretrained(directory)`` then runs it with
:class:`factsift.backends.onnx.OnnxBackend`. The
directory holds no torch weights: it is for inference only (keep the original to fine-tune).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from factsift.backends.onnx import OnnxBackend
from factsift.errors import ModelLoadError, first_line
from factsift.fileio import replace_dir
from factsift.inputs import encode_triples
from factsift.settings import ModelSettings

ONNX_MISSING = "ONNX export needs onnx and onnxscript: pip install 'factsift[export]'"
FP32_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
QUANTIZE_CHOICES = (None, "int8")
CARD_FILE = "README.md"
# An fp32 export must reproduce the torch logits this closely on the probe inputs.
FP32_TOLERANCE = 1e-4
OPSET = 18
# What export_model wrote as the fp32 graph, fastest first (recorded in factsift.json and the card).
GRAPH_QUANTIZABLE_ATTENTION = "fused, padding-mask attention"
GRAPH_FUSED = "fused"
GRAPH_AS_EXPORTED = "as exported"


class OnnxUnavailableError(ModelLoadError, ImportError):
    """onnx / onnxscript are not installed (an ImportError, and a ModelLoadError for the CLI)."""


# Probe inputs: checked after export (with and without context, so token_type_ids carry 1s).
_PROBES = [
    ("The ministry said exports rose 4 percent in March.", "", ""),
    ("“We will stand with our partners,” the minister told reporters.", "Talks ended late.", "He left."),
    ("This is a significant and worrying development.", "Russia vows to support China.", ""),
    ("Officials said the bridge would reopen next week.", "", "Traffic was light."),
    ("Frankly, the decision is absurd.", "The council voted on Tuesday to close the library.",
     "Residents have started a petition."),
    ("Perhaps it boils down to something more symbolic, a gesture aimed at Beijing rather than at Tokyo.",
     "Lavrov spoke to Tass.", "Japan has not responded."),
]


def _import_onnx():
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as error:
        raise OnnxUnavailableError(ONNX_MISSING) from error
    return onnx


# ---- export --------------------------------------------------------------------------------------
def export_model(
    model_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    quantize: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Export a torch factsift model directory to ONNX (``quantize="int8"`` for int8 weights).

    The output is a factsift model directory (config, tokenizer, ``factsift.json`` naming the ONNX
    file, README.md) written beside ``output_dir`` and renamed into place only when complete.
    """
    if quantize not in QUANTIZE_CHOICES:
        raise ValueError(f"quantize must be None or 'int8', got {quantize!r}")
    output = Path(output_dir).expanduser()
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"output_dir {str(output)!r} is a file")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise FileExistsError(
            f"output_dir {str(output)!r} is not empty; pass overwrite=True (--overwrite) to replace it"
        )
    source = Path(model_dir).expanduser()
    if source.exists() and output.exists() and source.resolve() == output.resolve():
        raise ValueError(f"output_dir {str(output)!r} is the model directory itself; choose another directory")
    _import_onnx()

    from factsift.model import Classifier

    classifier = Classifier.from_pretrained(model_dir, device="cpu", backend="torch")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.parent / f".{output.name}.{uuid.uuid4().hex[:12]}.tmp"
    staging.mkdir()  # the usual permissions (mkdtemp's would be 0700)
    try:
        report = _write_export(classifier, staging, quantize)
        (staging / CARD_FILE).write_text(_model_card(classifier.source, quantize, report), encoding="utf-8")
        replace_dir(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return output


def describe_export(directory: str | os.PathLike) -> str:
    """One line on an export: ONNX file, size, graph, and its logit differences from torch on the probes."""
    settings = ModelSettings.load(directory, [])
    export = settings.extra.get("export", {})
    size = (Path(directory) / settings.onnx_file).stat().st_size / 1e6
    differences = ", ".join(
        f"{kind} {export[key]:.2g}"
        for kind, key in (("fp32", "fp32_max_logit_diff"), ("int8", "int8_max_logit_diff"))
        if key in export
    )
    return (
        f"{settings.onnx_file}, {size:.0f} MB, graph {export.get('graph', 'unknown')}; "
        f"max logit difference from torch on the check sentences: {differences or 'not recorded'}"
    )


def _write_export(classifier, directory: Path, quantize: str | None) -> dict:
    """Write the ONNX file, config, tokenizer and settings into ``directory``; return check numbers."""
    settings = write_onnx(classifier, directory, quantize)
    classifier.backend.model.config.save_pretrained(directory)
    classifier.tokenizer.save_pretrained(directory)
    settings.save(directory)
    return settings.extra["export"]


def write_onnx(classifier, directory: Path, quantize: str | None) -> ModelSettings:
    """Write the ONNX file of a torch-backed ``classifier`` into ``directory``, checked against torch on
    the probe sentences; return the classifier's settings naming that file (with the check numbers
    under ``extra["export"]``). Nothing else in ``directory`` is touched."""
    onnx = _import_onnx()

    from factsift.onnx_graph import quantize_int8

    model, tokenizer, settings = classifier.backend.model, classifier.tokenizer, classifier.settings
    raw_path, fp32_path = directory / "exported.onnx", directory / FP32_FILE
    _export_fp32(model, tokenizer, settings, raw_path)
    probes = encode_triples(tokenizer, _PROBES, settings.max_length)
    expected = classifier.backend.logits(probes)
    graph_kind, fp32_model, fp32_diff = _fastest_matching_graph(onnx.load(str(raw_path)), fp32_path, probes, expected)
    raw_path.unlink()
    report = {"fp32_max_logit_diff": fp32_diff, "graph": graph_kind}
    onnx_file = FP32_FILE
    if quantize == "int8":
        onnx_file = INT8_FILE
        quantize_int8(fp32_model, directory / INT8_FILE)
        fp32_path.unlink()
        report["int8_max_logit_diff"] = _max_diff(directory / INT8_FILE, probes, expected)
    extra = dict(settings.extra, export={"quantize": quantize, "source": classifier.source, **report})
    return replace(settings, onnx_file=onnx_file, extra=extra)


def _fastest_matching_graph(exported, path: Path, probes: dict[str, np.ndarray], expected: np.ndarray):
    """Save to ``path`` the fastest rewrite of ``exported`` whose logits match torch's on the probes
    (fused with padding-mask attention, fused, as exported); return its kind, the graph and its logit
    difference."""
    import onnx

    from factsift.onnx_graph import fuse_for_onnxruntime, with_padding_mask_attention

    with _quiet_exporter():
        fused = fuse_for_onnxruntime(exported)
    candidates = [
        (GRAPH_QUANTIZABLE_ATTENTION, fused and with_padding_mask_attention(fused)),
        (GRAPH_FUSED, fused),
        (GRAPH_AS_EXPORTED, exported),
    ]
    differences = []
    for kind, graph in candidates:
        if graph is None:
            continue
        onnx.save(graph, str(path))
        try:
            difference = _max_diff(path, probes, expected)
        except Exception as error:  # onnxruntime cannot load or run this rewrite
            differences.append(f"{kind}: {first_line(error)}")
            continue
        if difference < FP32_TOLERANCE:
            return kind, graph, difference
        differences.append(f"{kind}: {difference:.2e}")
    path.unlink()
    raise RuntimeError(
        f"the ONNX export disagrees with torch (max logit difference, {'; '.join(differences)}; "
        f"tolerance {FP32_TOLERANCE:g}); please report this model architecture"
    )


class _LogitsOnly(torch.nn.Module):
    """Takes token tensors by name and returns only the logits (what the ONNX graph outputs)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None, token_type_ids=None):
        inputs = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
        return self.model(**{name: value for name, value in inputs.items() if value is not None}).logits


def _export_fp32(model, tokenizer, settings: ModelSettings, path: Path) -> None:
    """``torch.onnx.export`` (the dynamo exporter) with dynamic batch and sequence axes."""
    sample = encode_triples(tokenizer, _PROBES[1:3], settings.max_length)  # batch 2, with context
    unknown = set(sample) - {"input_ids", "attention_mask", "token_type_ids"}
    if unknown:
        raise ValueError(f"cannot export: the tokenizer produces inputs {sorted(unknown)} the exporter does not know")
    kwargs = {name: torch.from_numpy(array) for name, array in sample.items()}
    max_positions = getattr(model.config, "max_position_embeddings", None)
    batch = torch.export.Dim("batch")
    sequence = torch.export.Dim("sequence", max=max_positions) if max_positions else torch.export.Dim("sequence")
    model = model.float().eval()
    with _quiet_exporter(), torch.no_grad():
        torch.onnx.export(
            _LogitsOnly(model),
            (),
            str(path),
            kwargs=kwargs,
            input_names=list(kwargs),
            output_names=["logits"],
            dynamic_shapes={name: {0: batch, 1: sequence} for name in kwargs},
            opset_version=OPSET,
            dynamo=True,
            external_data=False,
            optimize=True,
            verbose=False,
        )


def _max_diff(path: Path, batch: dict[str, np.ndarray], expected: np.ndarray) -> float:
    return float(np.abs(OnnxBackend.open(path).logits(batch) - expected).max())


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hide the exporter's progress lines and its 'torchvision is not installed' warnings."""
    names = ["torch.onnx", "torch.export", "torch._export", "onnxscript", "onnxruntime.transformers"]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _model_card(source: str, quantize: str | None, report: dict) -> str:
    kind = "int8" if quantize == "int8" else "fp32"
    onnx_file = INT8_FILE if quantize == "int8" else FP32_FILE
    int8_note = (
        "- int8: the encoder's weights are int8 (per output channel); embedding tables are float16; pooler and "
        "classifier stay fp32. Activations are quantized at run time: per token for the feed-forward layers, per run for "
        "attention, so a sentence's scores can move slightly with the sentences batched beside it. "
        "On CPUs without AVX-VNNI onnxruntime's int8 kernels may saturate: check agreement there. "
        "Max logit difference from torch fp32 on the export probes: "
        f"{report['int8_max_logit_diff']:.3g}; labels agreed with torch fp32 on about 99 % of held-out "
        "sentences for the shipped MiniLM model: check agreement on your own data.\n"
        if quantize == "int8" else ""
    )
    graph = {
        GRAPH_QUANTIZABLE_ATTENTION: "Attention, GELU and layer norms are fused into onnxruntime contrib ops "
        "(attention takes the padding mask directly), so the graph needs onnxruntime.",
        GRAPH_FUSED: "Attention, GELU and layer norms are fused into onnxruntime contrib ops, so the graph "
        "needs onnxruntime.",
        GRAPH_AS_EXPORTED: "The graph is as torch.onnx exported it (standard ONNX ops).",
    }[report["graph"]]
    return f"""---
library_name: onnx
pipeline_tag: text-classification
tags:
  - factsift
  - onnx
---
# factsift sentence classifier ({kind} ONNX export)

An ONNX export of `{source}`, for fast CPU inference with onnxruntime.
Load it with `factsift.Classifier.from_pretrained(...)` (picks the ONNX backend from `factsift.json`).

- ONNX file: `{onnx_file}` ({"int8, dynamic quantization" if quantize else "fp32"}); inputs with dynamic
  batch and sequence axes, output `logits`.
  {graph}
- fp32 export checked against torch: max logit difference {report['fp32_max_logit_diff']:.2g}.
{int8_note}- No torch weights are included: fine-tune or re-export from the original directory.
"""
