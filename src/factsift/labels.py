"""The three factsift labels and mappings from other label sets."""

from __future__ import annotations

from enum import Enum


class Label(str, Enum):
    """A sentence label: whose voice carries the sentence, and does the writer evaluate."""

    FACT = "fact"
    QUOTATION = "quotation"
    OPINION = "opinion"

    def __str__(self) -> str:
        return self.value


DEFAULT_LABELS: tuple[str, ...] = tuple(label.value for label in Label)

# Subjectivity corpora (CheckThat!, NewsSD): objective sentences are facts unless they quote.
SUBJECTIVITY_LABEL_MAP: dict[str, str] = {"OBJ": Label.FACT.value, "SUBJ": Label.OPINION.value}


def parse_label_map(spec: str | None) -> dict[str, str]:
    """Parse ``"OBJ=fact,SUBJ=opinion"`` into ``{"OBJ": "fact", "SUBJ": "opinion"}``."""
    if not spec:
        return {}
    mapping: dict[str, str] = {}
    for item in spec.split(","):
        source, sep, target = item.partition("=")
        source, target = source.strip(), target.strip()
        if not sep or not source or not target:
            raise ValueError(f"label map item {item!r} is not of the form SOURCE=TARGET (in {spec!r})")
        if source in mapping and mapping[source] != target:
            raise ValueError(f"label map gives {source!r} twice: {mapping[source]!r} and {target!r}")
        mapping[source] = target
    return mapping
