"""``factsift.json``: what a model directory needs beyond the Hugging Face files."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

SETTINGS_FILE = "factsift.json"
FORMAT_VERSION = 1


@dataclass
class ModelSettings:
    """How inputs are built and scores calibrated for one model directory."""

    labels: list[str]
    context_window: int = 1
    max_length: int = 128
    temperature: float = 1.0
    onnx_file: str | None = None
    format_version: int = FORMAT_VERSION
    extra: dict = field(default_factory=dict)

    def save(self, directory: str | Path) -> Path:
        """Write ``factsift.json`` into ``directory``."""
        path = Path(directory) / SETTINGS_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, directory: str | Path, fallback_labels: list[str]) -> ModelSettings:
        """Read ``factsift.json``; a plain Hugging Face classifier directory gets defaults."""
        path = Path(directory) / SETTINGS_FILE
        if not path.is_file():
            return cls(labels=list(fallback_labels), context_window=0)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from error
        known = {name: raw[name] for name in cls.__dataclass_fields__ if name in raw}
        if "labels" not in known:
            raise ValueError(f"{path}: missing the 'labels' list")
        if known.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {known['format_version']} is newer than this factsift")
        return cls(**known)
