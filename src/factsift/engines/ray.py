"""Ray Data driver: ``map_batches`` over a pool of actors, each loading the model once."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from factsift.engines.core import PART_COLUMN, SENTENCE_BATCH_SIZE, label_parts
from factsift.model import Classifier

# Parts handed to Ray at a time per worker. Each hand-over starts a new actor pool (model loads
# again), so it is large: about 2,000 sentences a part, so minutes of work per actor.
PARTS_IN_FLIGHT_PER_WORKER = 64


class _LabelDocuments:
    """One per actor: loads the model in ``__init__``, labels one batch of documents per call."""

    def __init__(self, model: str | None, backend: str, threads: int, id_column: str, text_column: str):
        self.classifier = Classifier.from_pretrained(model, device="cpu", backend=backend, threads=threads)
        self.columns = id_column, text_column

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        parts = list(label_parts([batch], self.classifier, *self.columns, SENTENCE_BATCH_SIZE))
        return pd.concat(parts, ignore_index=True)


def label_dataset(
    ds,
    text_column: str = "text",
    id_column: str = "id",
    model: str | None = None,
    backend: str = "auto",
    batch_size: int | None = None,
    workers: int = 1,
    threads_per_worker: int = 1,
):
    """A Ray Dataset of sentence rows (``writers.row_columns``) for the documents in ``ds``.

    ``workers`` actors, each with ``threads_per_worker`` CPUs, label ``batch_size`` documents per
    call (None: one block per call). Rows of a ``_part`` column are labelled part by part, which
    gives the same scores as a local run when each part is whole inside one block.
    """
    from ray.data import ActorPoolStrategy

    return ds.map_batches(
        _LabelDocuments,
        fn_constructor_kwargs={
            "model": model, "backend": backend, "threads": threads_per_worker,
            "id_column": id_column, "text_column": text_column,
        },
        batch_size=batch_size,
        batch_format="pandas",
        compute=ActorPoolStrategy(size=workers),
        num_cpus=threads_per_worker,
    )


class RayEngine:
    """Labels a few parts per call on Ray: joins ``address``, or starts Ray on this machine."""

    def __init__(
        self, address: str | None, workers: int, model: str | None, backend: str = "auto", threads_per_worker: int = 1
    ):
        import ray

        if not ray.is_initialized():
            cpus = None if address else workers * threads_per_worker
            ray.init(address=address, num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        ray.data.DataContext.get_current().enable_progress_bars = False  # the CLI shows its own
        self.options = {"model": model, "backend": backend, "workers": workers, "threads_per_worker": threads_per_worker}
        self.parts_per_call = PARTS_IN_FLIGHT_PER_WORKER * workers

    def label(self, documents: pd.DataFrame) -> Iterator[pd.DataFrame]:
        """Rows for ``documents`` (with ``_part``): each part becomes one block, so one actor call."""
        import ray

        parts = [part for _, part in documents.groupby(PART_COLUMN, sort=False)]
        rows = label_dataset(ray.data.from_pandas(parts), **self.options)
        return rows.iter_batches(batch_format="pandas", batch_size=None)
