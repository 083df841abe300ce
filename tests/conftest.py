"""Shared fixtures: tiny random-weight BERT models built in seconds, and small labeled data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from factsift.settings import ModelSettings
from factsift.train import bundled_encoder_path

LABELS = ["fact", "quotation", "opinion"]
LABEL_IDS = {"id2label": dict(enumerate(LABELS)), "label2id": {label: i for i, label in enumerate(LABELS)}}
EXAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "examples" / "commentary_taiwan.txt"

TRAIN_SENTENCES = {
    "fact": [
        "The ministry said exports rose 4 percent in March.",
        "Lavrov stated that Russia would support China.",
        "The council approved the budget on Tuesday.",
        "Police arrested two men after the match.",
        "The company reported a loss of $3 million.",
        "Officials said the bridge would reopen next week.",
        "The minister met his French counterpart in Paris.",
        "Turnout was 61 percent, according to the commission.",
        "The court adjourned the case until May.",
        "Some analysts are skeptical of the plan.",
    ],
    "quotation": [
        "“We will stand with our partners,” the minister told reporters.",
        "“This is a dark day for democracy,” she said.",
        "“Nobody expected the vote to be this close,” he said.",
        "“We have done nothing wrong,” the spokesman insisted.",
        "“Prices will keep rising,” the governor warned.",
        "“I am proud of this team,” the coach said.",
        "“The evidence is overwhelming,” the prosecutor told the jury.",
        "“We need more doctors, not more forms,” a nurse said.",
        "“It was chaos,” one witness recalled.",
        "“Our patience has limits,” the president said.",
    ],
    "opinion": [
        "This is a significant and worrying development.",
        "It is difficult to envision a worse outcome.",
        "Perhaps it boils down to something more symbolic.",
        "The government should rethink this reckless policy.",
        "Analysts are rightly skeptical of the plan.",
        "This move seems like a desperate attempt to save face.",
        "Frankly, the decision is absurd.",
        "The reform is long overdue and badly designed.",
        "Voters deserve far better than this.",
        "It is a sign of desperation from Moscow.",
    ],
}


def tiny_bert_config(**extra):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=512, **extra,
    )


@pytest.fixture(scope="session")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(bundled_encoder_path())


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, tokenizer) -> Path:
    """A random-weight BERT encoder without a classification head (a stand-in base model)."""
    from transformers import BertModel

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("tiny-encoder")
    BertModel(tiny_bert_config()).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def save_tiny_classifier(directory: Path, tokenizer, config, seed: int = 0) -> Path:
    """Save a random-weight classifier built from ``config`` (labels LABEL_IDS), ``tokenizer`` and a
    ``factsift.json`` into ``directory``: a factsift model directory."""
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(seed)
    AutoModelForSequenceClassification.from_config(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    ModelSettings(labels=LABELS, context_window=1, max_length=64).save(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A random-weight three-label factsift model directory."""
    return save_tiny_classifier(tmp_path_factory.mktemp("tiny-model"), tokenizer, tiny_bert_config(**LABEL_IDS))


@pytest.fixture(scope="session")
def tiny_classifier(tiny_model_dir):
    from factsift import Classifier

    return Classifier.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture
def train_file(tmp_path) -> Path:
    """A JSONL file of 30 labeled sentences."""
    path = tmp_path / "train.jsonl"
    rows = [{"text": t, "label": label} for label, texts in TRAIN_SENTENCES.items() for t in texts]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def varied_model_dir(tmp_path_factory, tokenizer) -> Path:
    """Like ``tiny_model_dir`` but initialised with a wide spread (std 0.5), so its scores vary
    clearly from sentence to sentence and with context (the std-0.02 model scores ~1/3 everywhere)."""
    config = tiny_bert_config(initializer_range=0.5, **LABEL_IDS)
    return save_tiny_classifier(tmp_path_factory.mktemp("varied-model"), tokenizer, config)


@pytest.fixture(scope="session")
def varied_classifier(varied_model_dir):
    from factsift import Classifier

    return Classifier.from_pretrained(varied_model_dir, device="cpu")
