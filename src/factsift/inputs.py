"""What the classifier sees: a sentence paired with its neighbours, and checks on raw text."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from factsift.segment import Sentence

# Characters of neighbouring text kept on each side; keeps the sentence itself inside max_length.
CONTEXT_CHARS = 160
DEFAULT_MAX_CHARS = 2_000_000

_HTML_TAG = re.compile(r"<\s*(html|body|head|div|p|span|br|script|style|table|a\s+href)\b", re.IGNORECASE)
_ANY_TAG = re.compile(r"<(?:[a-zA-Z][\w:-]*|/[a-zA-Z][\w:-]*|!--|!doctype)[^<>]*>", re.IGNORECASE)
_HTML_START = re.compile(r"\s*<(?:!doctype\s+html|html)\b", re.IGNORECASE)
# A text is an HTML document when it opens like one, or when tags make up this share of its
# non-space characters (an article that mentions ``<p>`` is prose, a scraped page is not).
MARKUP_SHARE = 0.25
MIN_TAGS = 3
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")


def context_pair(before: str, after: str, separator: str) -> str | None:
    """Join the text before and after a sentence into the second segment of the model input.

    Returns None when there is no context, so an isolated sentence is encoded exactly as a plain
    ``transformers`` text-classification pipeline would encode it.
    """
    before, after = before.strip()[-CONTEXT_CHARS:], after.strip()[:CONTEXT_CHARS]
    if not before and not after:
        return None
    return f"{before} {separator} {after}".strip()


def encode_triples(tokenizer, triples: Sequence[tuple[str, str, str]], max_length: int) -> dict[str, np.ndarray]:
    """Tokenize (sentence, before, after) triples into one padded batch of int64 arrays.

    A sentence without context is encoded alone, whatever else is in the batch, so its score never
    depends on its batch-mates. Training and inference both call this.
    """
    separator = tokenizer.sep_token or "|"
    contexts = [context_pair(before, after, separator) for _, before, after in triples]
    paired = [i for i, context in enumerate(contexts) if context is not None]
    alone = [i for i, context in enumerate(contexts) if context is None]
    options = {"truncation": "longest_first", "max_length": max_length}
    groups = [
        (paired, [[triples[i][0] for i in paired], [contexts[i] for i in paired]]),
        (alone, [[triples[i][0] for i in alone]]),
    ]
    features: list[dict | None] = [None] * len(triples)
    for indices, segments in groups:
        if indices:
            encoded = tokenizer(*segments, **options)
            for row, i in enumerate(indices):
                features[i] = {name: values[row] for name, values in encoded.items()}
    batch = tokenizer.pad(features, padding=True, return_tensors="np")
    return {name: np.asarray(value, dtype=np.int64) for name, value in batch.items()}


def input_length(triple: tuple[str, str, str]) -> int:
    """A cheap stand-in for token count, used to sort inputs into batches of similar length."""
    text, before, after = triple
    return len(text) + min(len(before), CONTEXT_CHARS) + min(len(after), CONTEXT_CHARS)


def document_inputs(sentences: Sequence[Sentence], window: int) -> list[tuple[str, str, str]]:
    """(sentence, text before, text after) for each sentence, with ``window`` neighbours a side."""
    texts = [sentence.model_text for sentence in sentences]
    return [
        (text, " ".join(texts[max(0, i - window) : i]), " ".join(texts[i + 1 : i + 1 + window]))
        for i, text in enumerate(texts)
    ]


def check_text(
    text: object, where: str = "text", max_chars: int | None = DEFAULT_MAX_CHARS, allow_markup: bool = False
) -> str:
    """Return ``text`` if it is plain prose factsift can label, else raise ValueError naming ``where``.

    An HTML document (one that starts with ``<!DOCTYPE html>``/``<html>``, or whose tags make up
    ``MARKUP_SHARE`` of its non-space characters) is refused unless ``allow_markup``; prose that
    mentions a tag or two passes.
    """
    if not isinstance(text, str):
        raise TypeError(f"{where}: expected str, got {type(text).__name__}")
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(
            f"{where}: text has {len(text):,} characters, over the limit of {max_chars:,}; "
            "split it into documents or raise the limit (max_chars / --max-chars)"
        )
    control = _CONTROL.search(text)
    if control:
        line = text.count("\n", 0, control.start()) + 1
        raise ValueError(
            f"{where}: line {line} holds control character {control.group()!r}: binary data, not text"
        )
    if not allow_markup and _is_html_document(text):
        tag = _HTML_TAG.search(text) or _ANY_TAG.search(text)
        line = text.count("\n", 0, tag.start()) + 1
        raise ValueError(
            f"{where}: line {line} holds HTML markup {tag.group()!r} and the text is mostly markup; "
            "extract the article text first, or allow it (allow_markup=True / --allow-markup)"
        )
    return text


def _is_html_document(text: str) -> bool:
    if _HTML_START.match(text):
        return True
    tags = _ANY_TAG.findall(text)
    if len(tags) < MIN_TAGS:
        return False
    markup = sum(len("".join(tag.split())) for tag in tags)
    return markup >= MARKUP_SHARE * len("".join(text.split()))
