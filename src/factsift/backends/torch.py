"""The torch backend: a ``transformers`` sequence-classification model run with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from factsift.errors import ModelLoadError, first_line


def resolve_device(device: str) -> torch.device:
    """Map ``"auto" | "cpu" | "cuda" | "cuda:N"`` to a torch device, checking it exists."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but no CUDA device is available; use 'cpu' or 'auto'")
        return torch.device(device)
    raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")


class TorchBackend:
    """A ``transformers`` sequence-classification model in eval mode."""

    def __init__(self, model: torch.nn.Module, device: torch.device):
        self.model = model.to(device).eval()
        self.device = device

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = {name: torch.from_numpy(array).to(self.device) for name, array in batch.items()}
        with torch.inference_mode():
            return self.model(**inputs).logits.float().cpu().numpy()

    def save(self, directory: Path) -> None:
        self.model.save_pretrained(directory)

    @classmethod
    def load(cls, source: str, device: str, threads: int | None = None) -> TorchBackend:
        """Load the weights of a model directory or Hub id in float32 onto ``device``; ``threads`` sets
        torch's process-wide CPU thread count."""
        if threads is not None:
            torch.set_num_threads(threads)
        return cls(_load_model(source), resolve_device(device))


def _load_model(source: str) -> torch.nn.Module:
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    try:
        model, info = AutoModelForSequenceClassification.from_pretrained(
            source, dtype=torch.float32, output_loading_info=True
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise ModelLoadError(f"cannot load model weights from {source!r}: {first_line(error)}") from error
    if info.get("missing_keys"):
        raise ModelLoadError(
            f"{source!r} has no trained classification head (missing {sorted(info['missing_keys'])[:3]}); "
            "fine-tune it first with `factsift train --base-model ...`"
        )
    return model
