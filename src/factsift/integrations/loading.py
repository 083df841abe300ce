"""The Classifier an integration works with, from what its user passed."""

from __future__ import annotations

import os

from factsift.model import Classifier, default_classifier


def load_classifier(model: Classifier | str | os.PathLike | None) -> Classifier:
    """``model`` itself, the shipped default model when None (loaded once per process), or the
    Classifier loaded from a model directory / Hub id."""
    if isinstance(model, Classifier):
        return model
    if model is None:
        return default_classifier()
    return Classifier.from_pretrained(model)
