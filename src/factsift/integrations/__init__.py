"""factsift inside other libraries: spaCy (``spacy``), pandas and 🤗 datasets (``frames``).

Each integration is a thin layer over ``Classifier.label_texts`` and ``writers.sentence_records``;
nothing in the core library imports these modules.
"""

from __future__ import annotations

import os

from factsift import Classifier


def load_classifier(model: Classifier | str | os.PathLike | None) -> Classifier:
    """``model`` itself, the shipped default model when None (loaded once per process), or the
    Classifier loaded from a model directory / Hub id."""
    if isinstance(model, Classifier):
        return model
    if model is None:
        from factsift import _default_classifier

        return _default_classifier()
    return Classifier.from_pretrained(model)
