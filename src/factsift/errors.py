"""Errors shared by model loading and the backends (a leaf module: it imports nothing of factsift)."""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """A model directory or id could not be loaded."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
