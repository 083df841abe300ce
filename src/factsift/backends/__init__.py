"""Backends turn a batch of token ids into logits; the Classifier does everything else.

``factsift.backends.torch`` runs the safetensors weights with torch, ``factsift.backends.onnx`` an
ONNX export with onnxruntime. Only ``factsift.model`` chooses between them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import numpy as np


class Backend(Protocol):
    """Computes classifier logits for one tokenized batch."""

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of ``logits / temperature`` (float64, numerically stable)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' per-load progress bars and load reports while factsift loads or saves."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
