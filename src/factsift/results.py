"""Result objects: every label points back into the original text."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class LabeledSentence:
    """One sentence of a text with its label; ``text == original[start:end]``."""

    text: str
    start: int
    end: int
    label: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    paragraph: int = 0

    def to_dict(self) -> dict:
        """Plain-JSON form of this result."""
        return asdict(self)
