"""The Classifier: load a model directory, label sentences and whole texts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from factsift.backends import Backend, TorchBackend, quiet_transformers, resolve_device, softmax
from factsift.inputs import DEFAULT_MAX_CHARS, check_text, document_inputs, encode_triples, input_length
from factsift.results import LabeledSentence
from factsift.segment import Sentence, split_sentences
from factsift.settings import ModelSettings

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

DEFAULT_MODEL_NAME = "factsift-minilm"
MODEL_ENV_VAR = "FACTSIFT_MODEL"
# Documents are scored together until a chunk holds this many sentences (keeps batches full).
SENTENCES_PER_CHUNK = 512


class ModelLoadError(RuntimeError):
    """A model directory or id could not be loaded."""


def default_model_path() -> Path:
    """Where the shipped default model lives: $FACTSIFT_MODEL, the wheel, or the source tree."""
    if os.environ.get(MODEL_ENV_VAR):
        return Path(os.environ[MODEL_ENV_VAR])
    package_dir = Path(__file__).resolve().parent
    candidates = [
        package_dir / "models" / DEFAULT_MODEL_NAME,  # installed wheel
        package_dir.parents[1] / "models" / DEFAULT_MODEL_NAME,  # source checkout / editable install
    ]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise ModelLoadError(
        f"the default model {DEFAULT_MODEL_NAME!r} was not found in {', '.join(map(str, candidates))}; "
        f"pass a model directory or set ${MODEL_ENV_VAR}"
    )


def _looks_like_local_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or os.sep != "/" and os.sep in name


def _resolve_source(path_or_model_id: str | os.PathLike | None) -> str:
    if path_or_model_id is None:
        return str(default_model_path())
    name = os.fspath(path_or_model_id)
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelLoadError(f"model path {name!r} is a file; expected a model directory")
        if not (path / "config.json").is_file():
            raise ModelLoadError(f"model directory {name!r} has no config.json: not a saved model")
        return str(path)
    if _looks_like_local_path(name):
        raise ModelLoadError(f"model directory {name!r} does not exist")
    return name  # a Hugging Face Hub id


class Classifier:
    """Labels sentences as fact / quotation / opinion (or a fine-tuned model's own labels)."""

    def __init__(self, backend: Backend, tokenizer, settings: ModelSettings, source: str = ""):
        self.backend = backend
        self.tokenizer = tokenizer
        self.settings = settings
        self.source = source

    # ---- loading and saving -------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path_or_model_id: str | os.PathLike | None = None,
        device: str = "auto",
        backend: str = "auto",
        threads: int | None = None,
    ) -> Classifier:
        """Load a factsift model directory, a plain HF classifier dir, or a Hub id (None = default).

        ``threads``: CPU threads for inference (default: one per physical core). The ONNX backend
        gives them to its own session; the torch backend sets torch's process-wide thread count.
        """
        with quiet_transformers():
            return cls._load(path_or_model_id, device, backend, threads)

    @classmethod
    def _load(
        cls, path_or_model_id: str | os.PathLike | None, device: str, backend: str, threads: int | None
    ) -> Classifier:
        if backend not in ("auto", "torch", "onnx"):
            raise ValueError(f"backend must be 'auto', 'torch' or 'onnx', got {backend!r}")
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be a whole number >= 1 or None, got {threads!r}")
        source = _resolve_source(path_or_model_id)
        from transformers import AutoTokenizer

        try:
            settings = load_settings(source)
            tokenizer = AutoTokenizer.from_pretrained(source)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot load model {source!r}: {_first_line(error)}") from error
        use_onnx = backend == "onnx" or (backend == "auto" and settings.onnx_file is not None)
        if use_onnx:
            from factsift.export import OnnxBackend

            model_backend: Backend = OnnxBackend.load(Path(source), settings, threads)
        else:
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
            model_backend = TorchBackend(_load_torch_model(source), resolve_device(device))
        return cls(model_backend, tokenizer, settings, source)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write weights (safetensors), tokenizer, config and ``factsift.json`` into ``directory``."""
        if not isinstance(self.backend, TorchBackend):
            raise ValueError("only a torch-backed Classifier can be saved; export ONNX with `factsift export`")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.backend.save(path)
        self.tokenizer.save_pretrained(path)
        self.settings.save(path)
        return path

    @property
    def labels(self) -> list[str]:
        """Label names in the model's output order."""
        return list(self.settings.labels)

    # ---- sentences ----------------------------------------------------------------------
    def predict_proba(
        self,
        sentences: Sequence[str],
        context_before: Sequence[str] | None = None,
        context_after: Sequence[str] | None = None,
        batch_size: int = 32,
        progress: bool = False,
    ) -> list[dict[str, float]]:
        """Probability of each label for each sentence, in input order."""
        probabilities = self._probabilities(
            _triples(sentences, context_before, context_after), batch_size, progress
        )
        return [dict(zip(self.labels, row.tolist())) for row in probabilities]

    def predict(
        self,
        sentences: Sequence[str],
        context_before: Sequence[str] | None = None,
        context_after: Sequence[str] | None = None,
        batch_size: int = 32,
        progress: bool = False,
    ) -> list[str]:
        """The most likely label for each sentence, in input order."""
        probabilities = self._probabilities(
            _triples(sentences, context_before, context_after), batch_size, progress
        )
        return [self.labels[i] for i in probabilities.argmax(axis=1)]

    # ---- whole texts --------------------------------------------------------------------
    def label_text(self, text: str, max_chars: int | None = DEFAULT_MAX_CHARS) -> list[LabeledSentence]:
        """Split ``text`` into sentences and label each one, offsets pointing into ``text``."""
        return next(self.label_texts([text], max_chars=max_chars))

    def label_texts(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        max_chars: int | None = DEFAULT_MAX_CHARS,
    ) -> Iterator[list[LabeledSentence]]:
        """Label many texts lazily, batching sentences across documents; yields in input order."""
        pending: list[list[Sentence]] = []
        pending_sentences = 0
        for index, text in enumerate(texts):
            pending.append(split_sentences(check_text(text, f"text {index}", max_chars)))
            pending_sentences += len(pending[-1])
            if pending_sentences >= SENTENCES_PER_CHUNK or len(pending) >= SENTENCES_PER_CHUNK:
                yield from self._label_documents(pending, batch_size)
                pending, pending_sentences = [], 0
        if pending:
            yield from self._label_documents(pending, batch_size)

    def label_dataset(
        self, ds: Dataset | IterableDataset, text_column: str = "text", id_column: str | None = None,
        batch_size: int = 32,
    ) -> Dataset | IterableDataset:
        """Label a ``datasets.Dataset`` or ``IterableDataset`` of documents: one row per sentence
        (see ``factsift.integrations.frames.label_dataset``)."""
        from factsift.integrations.frames import label_dataset

        return label_dataset(self, ds, text_column, id_column, batch_size)

    def _label_documents(
        self, documents: list[list[Sentence]], batch_size: int
    ) -> Iterator[list[LabeledSentence]]:
        triples = [t for doc in documents for t in document_inputs(doc, self.settings.context_window)]
        probabilities = self._probabilities(triples, batch_size, progress=False)
        offset = 0
        for doc in documents:
            rows = probabilities[offset : offset + len(doc)]
            offset += len(doc)
            yield [self._labeled(sentence, row) for sentence, row in zip(doc, rows)]

    def _labeled(self, sentence: Sentence, row: np.ndarray) -> LabeledSentence:
        best = int(row.argmax())
        return LabeledSentence(
            text=sentence.text,
            start=sentence.start,
            end=sentence.end,
            label=self.labels[best],
            score=float(row[best]),
            scores=dict(zip(self.labels, row.tolist())),
            paragraph=sentence.paragraph,
        )

    # ---- scoring ------------------------------------------------------------------------
    def _probabilities(
        self, triples: list[tuple[str, str, str]], batch_size: int, progress: bool
    ) -> np.ndarray:
        """Calibrated softmax scores for (sentence, before, after) triples, in input order."""
        return softmax(self._logits(triples, batch_size, progress), self.settings.temperature).astype(np.float32)

    def _logits(self, triples: list[tuple[str, str, str]], batch_size: int, progress: bool) -> np.ndarray:
        """Raw logits for (sentence, before, after) triples, batched by length, in input order."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        output = np.zeros((len(triples), len(self.labels)), dtype=np.float32)
        order = np.argsort([input_length(triple) for triple in triples], kind="stable")
        starts = range(0, len(order), batch_size)
        for start in tqdm(starts, desc="labelling", unit="batch", disable=not progress, leave=False):
            indices = order[start : start + batch_size]
            batch = encode_triples(self.tokenizer, [triples[i] for i in indices], self.settings.max_length)
            output[indices] = self.backend.logits(batch)
        return output


def _triples(
    sentences: Sequence[str], before: Sequence[str] | None, after: Sequence[str] | None
) -> list[tuple[str, str, str]]:
    if isinstance(sentences, str):
        raise TypeError("expected a list of sentences, got a single str; wrap it in a list")
    before = [""] * len(sentences) if before is None else list(before)
    after = [""] * len(sentences) if after is None else list(after)
    if not len(before) == len(after) == len(sentences):
        raise ValueError(
            f"context_before ({len(before)}) and context_after ({len(after)}) must match "
            f"the number of sentences ({len(sentences)})"
        )
    for index, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise TypeError(f"sentence {index}: expected str, got {type(sentence).__name__}")
    return list(zip(sentences, before, after))


def load_settings(source: str) -> ModelSettings:
    """``factsift.json`` of a model directory or Hub id (defaults when it has none), its labels checked
    against ``config.json``'s id2label. OSError/ValueError when they cannot be read."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source)
    config_labels = [str(config.id2label[i]) for i in range(len(config.id2label))]
    settings = ModelSettings.load(source, config_labels)
    if settings.labels != config_labels:
        raise ModelLoadError(
            f"{source}: factsift.json labels {settings.labels} disagree with config.json id2label {config_labels}"
        )
    return settings


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _load_torch_model(source: str):
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise ModelLoadError(f"cannot load model weights from {source!r}: {_first_line(error)}") from error
    if info.get("missing_keys"):
        raise ModelLoadError(
            f"{source!r} has no trained classification head (missing {sorted(info['missing_keys'])[:3]}); "
            "fine-tune it first with `factsift train --base-model ...`"
        )
    return model
