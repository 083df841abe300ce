"""Ray Data: the same rows as a local run, on both backends, also when a worker is killed mid-run."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pandas as pd
import pandas.testing as pdt

from factsift.engines.core import PART_COLUMN, POSITION_COLUMN, cached_classifier, label_batch, row_types

from .conftest import archive_documents
from .test_engine_archive import assert_engine_gives_the_local_rows


def test_cluster_run_gives_the_local_rows_row_by_row(ray_cluster, archive, model_dir, tmp_path):
    assert_engine_gives_the_local_rows("ray", archive, model_dir, tmp_path)


def test_a_killed_worker_loses_and_duplicates_nothing(ray_cluster, varied_model_dir):
    from factsift.engines.ray import label_dataset

    documents = pd.DataFrame(archive_documents(240)).rename(columns={"id": "url", "text": "body"})
    documents[PART_COLUMN], documents[POSITION_COLUMN] = documents.index // 10, documents.index % 10
    parts = [part for _, part in documents.groupby(PART_COLUMN)]
    dataset = ray_cluster.data.from_pandas(parts)
    rows = label_dataset(dataset, text_column="body", id_column="url", model=str(varied_model_dir), workers=2)
    batches = iter(rows.iter_batches(batch_format="pandas", batch_size=None))
    received = [next(batches)]
    os.kill(_label_actor_pids()[0], signal.SIGKILL)
    received += list(batches)
    result = pd.concat(received).sort_values([PART_COLUMN, "doc_id", "sentence_index"], key=_natural)
    result = result.astype(row_types(result.columns))  # Ray hands strings back as Arrow strings
    classifier = cached_classifier(str(varied_model_dir))
    expected = pd.concat([
        label_batch(part, classifier, id_column="url", text_column="body").assign(**{PART_COLUMN: i})
        for i, part in enumerate(parts)
    ])
    pdt.assert_frame_equal(result.reset_index(drop=True), expected.sort_values(
        [PART_COLUMN, "doc_id", "sentence_index"], key=_natural).reset_index(drop=True))


def _label_actor_pids() -> list[int]:
    """Processes of this machine running a labelling actor (Ray titles them ``ray::MapWorker(...)``)."""
    pids = []
    for process in Path("/proc").iterdir():
        try:
            if process.name.isdigit() and b"MapBatches(_LabelDocuments)" in (process / "cmdline").read_bytes():
                pids.append(int(process.name))
        except OSError:
            continue
    return pids


def _natural(column: pd.Series) -> pd.Series:
    return column.str[1:].astype(int) if column.name == "doc_id" else column
