"""factsift: label each sentence of commentary as fact, quotation or opinion."""

from __future__ import annotations

from factsift.labels import Label
from factsift.model import Classifier, ModelLoadError, default_classifier
from factsift.results import LabeledSentence
from factsift.segment import Sentence, split_sentences
from factsift.train import TrainConfig, TrainResult, train

__all__ = [
    "Classifier", "Label", "LabeledSentence", "ModelLoadError", "Sentence", "TrainConfig", "TrainResult",
    "label_frame", "label_text", "split_sentences", "train",
]
__version__ = "0.1.0"


def label_text(text: str) -> list[LabeledSentence]:
    """Label every sentence of ``text`` with the shipped default model (loaded once)."""
    return default_classifier().label_text(text)


def __getattr__(name: str):
    """``factsift.label_frame`` (pandas) is imported on first use, so ``import factsift`` stays light."""
    if name == "label_frame":
        from factsift.integrations.frames import label_frame

        return label_frame
    raise AttributeError(f"module 'factsift' has no attribute {name!r}")
