"""The Classifier: load a model directory, label sentences and whole texts."""

from __future__ import annotations

import os
from functools import lru_cache
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from factsift.backends import Backend, quiet_transformers, softmax
from factsift.errors import ModelLoadError, first_line
from factsift.fileio import give_default_permissions
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
# A usable tokenizer must split this into known tokens (a broken one makes every word unknown).
TOKENIZER_PROBE = "The minister said on Tuesday that the government would raise taxes next year."
HUB_PROBE_SECONDS = 3.0


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


@lru_cache(maxsize=1)
def default_classifier() -> Classifier:
    """The shipped default model, loaded once per process."""
    return Classifier.from_pretrained()


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
        unreadable = sorted(file.name for file in path.iterdir() if file.is_file() and not os.access(file, os.R_OK))
        if unreadable:
            raise ModelLoadError(
                f"model directory {name!r}: permission denied reading {', '.join(unreadable)}; "
                "ask its owner to make the files readable (chmod a+r)"
            )
        return str(path)
    if _looks_like_local_path(name):
        raise ModelLoadError(f"model directory {name!r} does not exist")
    return _hub_source(name)


def _hub_source(name: str) -> str:
    """``name`` as a Hub id when the Hub answers, else its cached copy; fails fast when there is none.

    Offline (``HF_HUB_OFFLINE``) or with the Hub unreachable, a name that is neither a local folder
    nor in the Hub cache fails at once instead of going through transformers' download retries.
    """
    from huggingface_hub import constants, try_to_load_from_cache

    offline = bool(constants.HF_HUB_OFFLINE)
    if not offline and _answers(constants.ENDPOINT):
        return name
    try:
        cached = try_to_load_from_cache(name, "config.json")
    except ValueError:  # not a valid Hub id
        cached = None
    if isinstance(cached, str):
        return str(Path(cached).parent)
    why = "offline mode is on (HF_HUB_OFFLINE)" if offline else f"{constants.ENDPOINT} does not answer"
    raise ModelLoadError(
        f"no local folder {name!r} and the Hub is unreachable ({why}), with no cached copy; "
        "pass the path of a model folder"
    )


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url`` within HUB_PROBE_SECONDS (proxies from the environment)."""
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=HUB_PROBE_SECONDS).close()
    except urllib.error.HTTPError:
        return True  # an error status is still an answer
    except (OSError, ValueError):
        return False
    return True


def load_tokenizer(source: str):
    """The tokenizer of a model directory or Hub id, checked against the model: ModelLoadError when it
    is missing or unusable.

    A tokenizer whose vocabulary is larger than config.json's ``vocab_size``, or under half of it, or
    that turns every word of ``TOKENIZER_PROBE`` into the unknown token, belongs to another model or
    was rebuilt from incomplete files (e.g. a folder without ``tokenizer.json``).
    """
    from transformers import AutoConfig, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        vocab_size = getattr(AutoConfig.from_pretrained(source), "vocab_size", None)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"cannot load the tokenizer of {source!r}: {first_line(error)}") from error
    size = len(tokenizer)
    if isinstance(vocab_size, int) and not vocab_size // 2 <= size <= vocab_size:
        raise ModelLoadError(
            f"{source}: the tokenizer has {size:,} tokens but config.json has vocab_size {vocab_size:,}; "
            "its tokenizer files (tokenizer.json, vocab.txt, ...) are missing or belong to another model"
        )
    ids = tokenizer(TOKENIZER_PROBE, add_special_tokens=False)["input_ids"]
    if not ids or (tokenizer.unk_token_id is not None and set(ids) == {tokenizer.unk_token_id}):
        raise ModelLoadError(
            f"{source}: the tokenizer makes every word of a test sentence an unknown token; "
            "its tokenizer files (tokenizer.json, vocab.txt, ...) are missing or broken"
        )
    return tokenizer


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
        try:
            settings = load_settings(source)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"cannot load model {source!r}: {first_line(error)}") from error
        tokenizer = load_tokenizer(source)
        model_backend = _load_backend(source, settings, backend, device, threads)
        return cls(model_backend, tokenizer, settings, source)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write weights (safetensors), tokenizer, config and ``factsift.json`` into ``directory``."""
        from factsift.backends.torch import TorchBackend

        if not isinstance(self.backend, TorchBackend):
            raise ValueError("only a torch-backed Classifier can be saved; export ONNX with `factsift export`")
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        with quiet_transformers():
            self.backend.save(path)
        self.tokenizer.save_pretrained(path)
        replace(self.settings, onnx_file=None).save(path)  # an ONNX file beside the weights is not copied
        give_default_permissions(path)
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
    def label_text(
        self, text: str, max_chars: int | None = DEFAULT_MAX_CHARS, allow_markup: bool = False
    ) -> list[LabeledSentence]:
        """Split ``text`` into sentences and label each one, offsets pointing into ``text``."""
        return next(self.label_texts([text], max_chars=max_chars, allow_markup=allow_markup))

    def label_texts(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        max_chars: int | None = DEFAULT_MAX_CHARS,
        allow_markup: bool = False,
    ) -> Iterator[list[LabeledSentence]]:
        """Label many texts lazily, batching sentences across documents; yields in input order.

        ``texts`` is any iterable of str (a generator too) but not a single str. Arguments are
        checked when called, each text when reached. ``allow_markup`` lets HTML documents through
        (see ``factsift.inputs.check_text``).
        """
        if isinstance(texts, (str, bytes)) or isinstance(texts, Mapping) or not isinstance(texts, Iterable):
            raise TypeError(f"texts must be an iterable of str, got {_described(texts)}; wrap a single text in a list")
        _check_positive_int(batch_size, "batch_size")
        if max_chars is not None:
            _check_positive_int(max_chars, "max_chars")
        return self._label_texts(texts, batch_size, max_chars, allow_markup)

    def _label_texts(
        self, texts: Iterable[str], batch_size: int, max_chars: int | None, allow_markup: bool
    ) -> Iterator[list[LabeledSentence]]:
        pending: list[list[Sentence]] = []
        pending_sentences = 0
        for index, text in enumerate(texts):
            pending.append(split_sentences(check_text(text, f"text {index}", max_chars, allow_markup)))
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
        (see ``factsift.integrations.hf_datasets.label_dataset``)."""
        from factsift.integrations.hf_datasets import label_dataset

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
        """Raw logits for (sentence, before, after) triples, batched by length, in input order.

        A model trained on sentences alone (``context_window`` 0) never sees the given context.
        """
        _check_positive_int(batch_size, "batch_size")
        if self.settings.context_window == 0:
            triples = [(sentence, "", "") for sentence, _, _ in triples]
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
    """Checked (sentence, before, after) triples; TypeError/ValueError name the parameter and value."""
    sentences = _text_list(sentences, "sentences")
    before = [""] * len(sentences) if before is None else _text_list(before, "context_before")
    after = [""] * len(sentences) if after is None else _text_list(after, "context_after")
    if not len(before) == len(after) == len(sentences):
        raise ValueError(
            f"context_before ({len(before)}) and context_after ({len(after)}) must match "
            f"the number of sentences ({len(sentences)})"
        )
    return list(zip(sentences, before, after))


def _text_list(values: object, name: str) -> list[str]:
    """``values`` (a list, tuple, array or Series of str) as a list, the scikit-learn way: a single
    str, a dict, None or a generator is a TypeError naming ``name`` and the value."""
    if isinstance(values, (str, bytes)):
        raise TypeError(f"{name} must be a list of str, got a single {_described(values)}; wrap it in a list")
    if isinstance(values, Mapping) or not (hasattr(values, "__len__") and hasattr(values, "__iter__")):
        raise TypeError(f"{name} must be a list of str, got {_described(values)}")
    items = list(values)
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise TypeError(f"{name}[{index}] must be a str, got {_described(item)}")
    return items


def _check_positive_int(value: object, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {_described(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")


def _described(value: object) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


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


def _load_backend(source: str, settings: ModelSettings, backend: str, device: str, threads: int | None) -> Backend:
    """``backend="auto"``: the model directory's ONNX export when it has one and the device is the CPU,
    else torch."""
    from factsift.backends.torch import TorchBackend, resolve_device

    if backend == "onnx" or (
        backend == "auto" and settings.onnx_file is not None and resolve_device(device).type == "cpu"
    ):
        from factsift.backends.onnx import OnnxBackend

        return OnnxBackend.load(Path(source), settings, threads)
    return TorchBackend.load(source, device, threads)
