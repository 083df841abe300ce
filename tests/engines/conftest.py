"""Engine fixtures: one local Ray (2 CPUs) and one Spark local[2] per test session, a small archive,
and the tiny random model both as torch and as an int8 ONNX export."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import EXAMPLE, TRAIN_SENTENCES

SENTENCES = [sentence for sentences in TRAIN_SENTENCES.values() for sentence in sentences]


def archive_documents(count: int) -> list[dict]:
    """``count`` documents of 0 to 12 sentences, paragraphs and quotes mixed, ids ``d0``, ``d1``, ..."""
    documents = []
    for index in range(count):
        size = (index * 7) % 13
        picked = [SENTENCES[(index * 11 + k * 5) % len(SENTENCES)] for k in range(size)]
        paragraphs = [" ".join(picked[start : start + 4]) for start in range(0, len(picked), 4)]
        documents.append({"id": f"d{index}", "text": "\n\n".join(paragraphs)})
    documents[3]["text"] = EXAMPLE.read_text(encoding="utf-8")
    return documents


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    """A folder of 60 documents: 30 in JSONL, 20 in CSV, 10 in parquet."""
    folder = tmp_path_factory.mktemp("archive")
    documents = archive_documents(60)
    (folder / "a.jsonl").write_text("".join(json.dumps(d) + "\n" for d in documents[:30]), encoding="utf-8")
    pd.DataFrame(documents[30:50]).to_csv(folder / "b.csv", index=False)
    pd.DataFrame(documents[50:]).to_parquet(folder / "c.parquet", index=False)
    return folder


@pytest.fixture(scope="session")
def int8_model_dir(varied_model_dir, tmp_path_factory) -> Path:
    from factsift.export import export_model

    return export_model(varied_model_dir, tmp_path_factory.mktemp("engines-int8") / "int8", quantize="int8")


@pytest.fixture(scope="session", params=["torch", "onnx-int8"])
def model_dir(request, varied_model_dir) -> Path:
    """The tiny model on each backend the engines must agree on."""
    return varied_model_dir if request.param == "torch" else request.getfixturevalue("int8_model_dir")


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    from factsift.engines.spark import LOCAL_TASK_ATTEMPTS

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master(f"local[2,{LOCAL_TASK_ATTEMPTS}]").appName("factsift-tests")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true").config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2").getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
