"""Spark driver: ``mapInPandas``, with the model loaded once per Python worker process."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from functools import partial

import pandas as pd

from factsift.engines.core import (
    PART_COLUMN, POSITION_COLUMN, SENTENCE_BATCH_SIZE, cached_classifier, label_parts, row_types,
)
from factsift.writers import row_columns

# Parts handed to Spark at a time per worker (Python workers and their model outlive a job);
# a local master retries a failed task once.
PARTS_IN_FLIGHT_PER_WORKER = 16
LOCAL_TASK_ATTEMPTS = 2
_SPARK_TYPES = {"int64": "long", "float64": "double", "str": "string"}


def label_dataframe(
    df,
    text_column: str = "text",
    id_column: str = "id",
    model: str | None = None,
    backend: str = "auto",
    threads_per_worker: int = 1,
):
    """A Spark DataFrame of sentence rows (``writers.row_columns``) for the documents in ``df``.

    With ``_part`` and ``_position`` columns, each part is gathered into one partition in order
    and labelled whole, which gives the same scores as a local run.
    """
    labels = cached_classifier(model, backend, threads_per_worker).labels
    schema = ", ".join(f"`{name}` {kind}" for name, kind in row_schema(labels, PART_COLUMN in df.columns))
    if PART_COLUMN in df.columns:
        df = df.repartition(df.rdd.getNumPartitions(), PART_COLUMN).sortWithinPartitions(PART_COLUMN, POSITION_COLUMN)
    label = partial(
        _label_partition, model=model, backend=backend, threads=threads_per_worker,
        id_column=id_column, text_column=text_column,
    )
    return df.mapInPandas(label, schema)


def row_schema(labels: list[str], with_part: bool = False) -> list[tuple[str, str]]:
    """(column, Spark SQL type) for each sentence-row column."""
    columns = row_columns(labels) + ([PART_COLUMN] if with_part else [])
    return [(name, _SPARK_TYPES[kind]) for name, kind in row_types(columns).items()]


def _label_partition(
    batches: Iterator[pd.DataFrame], model: str | None, backend: str, threads: int, id_column: str, text_column: str
) -> Iterator[pd.DataFrame]:
    classifier = cached_classifier(model, backend, threads)  # once per Python worker, not per batch
    yield from label_parts(batches, classifier, id_column, text_column, SENTENCE_BATCH_SIZE)


class SparkEngine:
    """Labels a few parts per call on Spark: ``address`` is a master URL, else ``local[workers]``."""

    def __init__(
        self, address: str | None, workers: int, model: str | None, backend: str = "auto", threads_per_worker: int = 1
    ):
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this environment's factsift
        master = address or f"local[{workers},{LOCAL_TASK_ATTEMPTS}]"
        builder = SparkSession.builder.master(master).appName("factsift")
        self.spark = builder.config("spark.sql.execution.arrow.pyspark.enabled", "true").getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        self.options = {"model": model, "backend": backend, "threads_per_worker": threads_per_worker}
        self.parts_per_call = PARTS_IN_FLIGHT_PER_WORKER * workers

    def label(self, documents: pd.DataFrame) -> Iterator[pd.DataFrame]:
        """Rows for ``documents`` (with ``_part`` and ``_position``), each part labelled whole."""
        frame = self.spark.createDataFrame(documents)
        yield label_dataframe(frame, **self.options).toPandas()
