"""Spark: the same rows as a local run, on both backends; the model loaded once per Python worker; a
failed task is retried with the same result."""

from __future__ import annotations

import shutil

import pandas as pd
import pandas.testing as pdt

from factsift.engines.core import PART_COLUMN, POSITION_COLUMN, cached_classifier, label_batch

from .conftest import archive_documents
from .test_engine_archive import assert_engine_gives_the_local_rows


def test_cluster_run_gives_the_local_rows_row_by_row(spark, archive, model_dir, tmp_path):
    assert_engine_gives_the_local_rows("spark", archive, model_dir, tmp_path)


def test_model_loads_once_per_python_worker_and_stays_for_later_batches(spark, varied_model_dir, tmp_path):
    from factsift.engines.spark import label_dataframe

    model = str(shutil.copytree(varied_model_dir, tmp_path / "model"))  # a model no worker has loaded yet
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "2")
    try:
        documents = spark.createDataFrame(pd.DataFrame(archive_documents(12))).repartition(2)
        assert label_dataframe(documents, model=model).count() > 0
    finally:
        spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")

    def loads_needed(batches):
        from factsift.engines.core import cached_classifier

        for _ in batches:
            before = cached_classifier.cache_info().misses
            cached_classifier(model, "auto", 1)
            yield pd.DataFrame({"loads": [cached_classifier.cache_info().misses - before]})

    assert documents.mapInPandas(loads_needed, "loads long").toPandas()["loads"].sum() == 0


def test_a_task_that_fails_once_is_retried_with_the_same_rows(spark, varied_model_dir):
    from factsift.engines.spark import label_dataframe, row_schema

    documents = pd.DataFrame(archive_documents(40))
    documents[PART_COLUMN], documents[POSITION_COLUMN] = documents.index // 10, documents.index % 10
    labels = cached_classifier(str(varied_model_dir)).labels
    schema = ", ".join(f"`{name}` {kind}" for name, kind in row_schema(labels, with_part=True))

    def fail_first_attempt(batches):
        from pyspark import TaskContext

        context = TaskContext.get()
        if context.partitionId() == 0 and context.attemptNumber() == 0:
            raise RuntimeError("injected task failure")
        yield from batches

    rows = label_dataframe(spark.createDataFrame(documents), model=str(varied_model_dir))
    result = rows.mapInPandas(fail_first_attempt, schema).toPandas().sort_values([PART_COLUMN, "doc_id"], kind="stable")
    classifier = cached_classifier(str(varied_model_dir))
    expected = pd.concat([
        label_batch(part, classifier).assign(**{PART_COLUMN: i}) for i, part in documents.groupby(PART_COLUMN)
    ]).sort_values([PART_COLUMN, "doc_id"], kind="stable")
    pdt.assert_frame_equal(result.reset_index(drop=True), expected.reset_index(drop=True))
