"""ONNX export and the onnxruntime backend, on the tiny random-weight model."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytest.importorskip("onnx")

from conftest import (  # noqa: E402
    EXAMPLE, LABEL_IDS, LABELS, TRAIN_SENTENCES, save_tiny_classifier, tiny_bert_config,
)

from factsift import Classifier, ModelLoadError  # noqa: E402
from factsift.backends.onnx import ONNXRUNTIME_MISSING, OnnxBackend  # noqa: E402
from factsift.export import (  # noqa: E402
    FP32_FILE, GRAPH_AS_EXPORTED, GRAPH_FUSED, GRAPH_QUANTIZABLE_ATTENTION, INT8_FILE, ONNX_MISSING,
    describe_export, export_model,
)

SENTENCES = [text for texts in TRAIN_SENTENCES.values() for text in texts[:7]]  # 21 sentences
BEFORE = ["", "The talks ended late on Monday."] * 10 + [""]
AFTER = ["Officials declined to comment.", ""] * 10 + ["He left."]


@pytest.fixture(scope="module")
def onnx_dir(tiny_model_dir, tmp_path_factory):
    return export_model(tiny_model_dir, tmp_path_factory.mktemp("export") / "fp32")


@pytest.fixture(scope="module")
def three_layer_model_dir(tmp_path_factory, tokenizer):
    """Like tiny_model_dir with three layers, so int8 has several layers to quantize."""
    config = tiny_bert_config(**LABEL_IDS)
    config.num_hidden_layers = 3
    return save_tiny_classifier(tmp_path_factory.mktemp("three-layer"), tokenizer, config, seed=1)


@pytest.fixture(scope="module")
def int8_dir(three_layer_model_dir, tmp_path_factory):
    return export_model(three_layer_model_dir, tmp_path_factory.mktemp("export") / "int8", quantize="int8")


def test_export_writes_a_factsift_model_dir(onnx_dir, tiny_model_dir):
    files = {path.name for path in onnx_dir.iterdir()}
    assert {FP32_FILE, "config.json", "factsift.json", "tokenizer.json", "README.md"} <= files
    assert not {"model.safetensors", INT8_FILE} & files
    settings = json.loads((onnx_dir / "factsift.json").read_text())
    original = json.loads((tiny_model_dir / "factsift.json").read_text())
    assert settings["onnx_file"] == FP32_FILE
    for key in ("labels", "context_window", "max_length", "temperature"):
        assert settings[key] == original[key]
    config = json.loads((onnx_dir / "config.json").read_text())
    assert config["id2label"] == {str(i): label for i, label in enumerate(LABELS)}
    assert "ONNX export" in (onnx_dir / "README.md").read_text()
    assert not [p for p in onnx_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_exported_graph_has_dynamic_batch_and_sequence(onnx_dir):
    import onnx

    graph = onnx.load(str(onnx_dir / FP32_FILE), load_external_data=False).graph
    assert {node.name for node in graph.input} == {"input_ids", "token_type_ids", "attention_mask"}
    for node in graph.input:
        dims = node.type.tensor_type.shape.dim
        assert all(dim.dim_param and not dim.dim_value for dim in dims), node.name


def test_fp32_graph_uses_fused_attention_with_the_padding_mask(onnx_dir):
    import onnx

    assert json.loads((onnx_dir / "factsift.json").read_text())["extra"]["export"]["graph"] == (
        GRAPH_QUANTIZABLE_ATTENTION
    )
    nodes = onnx.load(str(onnx_dir / FP32_FILE)).graph.node
    ops = [node.op_type for node in nodes]
    assert "SkipLayerNormalization" not in ops  # split again: its CPU kernel is slow
    attention = [node for node in nodes if node.op_type == "Attention"]
    assert len(attention) == 1 and attention[0].input[3] == "attention_mask_int32"


def test_a_rewrite_that_changes_the_logits_is_not_used(tiny_model_dir, tiny_classifier, tmp_path, monkeypatch):
    import factsift.onnx_graph as onnx_graph

    rewrite = onnx_graph.with_padding_mask_attention

    def shifted_logits(model):  # stands for a rewrite that does not fit the architecture
        from onnx import helper, numpy_helper

        rewritten = rewrite(model)
        graph = rewritten.graph
        next(node for node in graph.node if "logits" in node.output).output[0] = "logits_before"
        graph.initializer.append(numpy_helper.from_array(np.array(0.01, dtype=np.float32), "shift"))
        graph.node.append(helper.make_node("Add", ["logits_before", "shift"], ["logits"]))
        return rewritten

    monkeypatch.setattr(onnx_graph, "with_padding_mask_attention", shifted_logits)
    output = export_model(tiny_model_dir, tmp_path / "fused")
    assert json.loads((output / "factsift.json").read_text())["extra"]["export"]["graph"] == GRAPH_FUSED

    monkeypatch.setattr(onnx_graph, "fuse_for_onnxruntime", lambda model: None)  # fusion failed
    output = export_model(tiny_model_dir, tmp_path / "plain")
    assert json.loads((output / "factsift.json").read_text())["extra"]["export"]["graph"] == GRAPH_AS_EXPORTED
    expected = tiny_classifier.predict_proba(SENTENCES, BEFORE, AFTER)
    got = Classifier.from_pretrained(output).predict_proba(SENTENCES, BEFORE, AFTER)
    np.testing.assert_allclose([list(r.values()) for r in got], [list(r.values()) for r in expected], atol=1e-5)


def test_export_that_never_matches_torch_fails_cleanly(tiny_model_dir, tmp_path, monkeypatch):
    import factsift.export as export

    monkeypatch.setattr(export, "_max_diff", lambda *args: 0.5)
    with pytest.raises(RuntimeError, match=r"disagrees with torch .*as exported: 5.00e-01.*report this"):
        export_model(tiny_model_dir, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_threads_go_to_the_onnx_session_and_are_checked(onnx_dir):
    session = Classifier.from_pretrained(onnx_dir, threads=1).backend.session
    assert session.get_session_options().intra_op_num_threads == 1
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match=f"threads must be a whole number >= 1 or None, got {bad!r}"):
            Classifier.from_pretrained(onnx_dir, threads=bad)


def test_auto_backend_picks_onnx(onnx_dir, tiny_model_dir):
    assert isinstance(Classifier.from_pretrained(onnx_dir).backend, OnnxBackend)
    assert isinstance(Classifier.from_pretrained(onnx_dir, backend="onnx").backend, OnnxBackend)
    assert not isinstance(Classifier.from_pretrained(tiny_model_dir).backend, OnnxBackend)


def test_fp32_onnx_matches_torch(onnx_dir, tiny_classifier):
    onnx_classifier = Classifier.from_pretrained(onnx_dir)
    for batch_size in (1, 7, 32):  # different batch and sequence shapes through the same graph
        expected = tiny_classifier.predict_proba(SENTENCES, BEFORE, AFTER, batch_size=batch_size)
        got = onnx_classifier.predict_proba(SENTENCES, BEFORE, AFTER, batch_size=batch_size)
        np.testing.assert_allclose(
            [list(row.values()) for row in got], [list(row.values()) for row in expected], atol=1e-5
        )
    assert onnx_classifier.predict(SENTENCES) == tiny_classifier.predict(SENTENCES)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert [s.label for s in onnx_classifier.label_text(text)] == [s.label for s in tiny_classifier.label_text(text)]


def test_backend_slices_batches_without_changing_results(onnx_dir, tokenizer):
    from factsift.inputs import encode_triples

    backend = Classifier.from_pretrained(onnx_dir).backend
    batch = encode_triples(tokenizer, list(zip(SENTENCES, BEFORE, AFTER)), 64)
    backend.tokens_per_run = 10**9
    whole = backend.logits(batch)
    backend.tokens_per_run = 1  # one row per run, each cut to its own length
    np.testing.assert_allclose(backend.logits(batch), whole, atol=1e-5)
    assert whole.shape == (len(SENTENCES), len(LABELS)) and whole.dtype == np.float32


def test_int8_export_loads_and_mostly_agrees(int8_dir, three_layer_model_dir):
    import onnx

    assert json.loads((int8_dir / "factsift.json").read_text())["onnx_file"] == INT8_FILE
    assert not (int8_dir / FP32_FILE).exists()
    assert "int8" in (int8_dir / "README.md").read_text()
    assert json.loads((int8_dir / "factsift.json").read_text())["extra"]["export"]["graph"] == (
        GRAPH_QUANTIZABLE_ATTENTION
    )
    ops = [node.op_type for node in onnx.load(str(int8_dir / INT8_FILE)).graph.node]
    # a layer: QAttention (int8 query/key/value), the attention output MatMul quantized per run, the
    # feed-forward up and down MatMuls quantized per token; embeddings and the Gemm head stay fp32
    assert ops.count("QAttention") == 3
    assert ops.count("MatMulInteger") == 3
    assert ops.count("MatMulIntegerToFloat") == 3 * 2
    assert ops.count("MatMul") == 2  # pooler and classifier, fp32
    assert "Gather" in ops and "DequantizeLinear" not in ops  # embeddings looked up, not quantized
    tables = {t.name: t.data_type for t in onnx.load(str(int8_dir / INT8_FILE)).graph.initializer}
    assert [dtype for name, dtype in tables.items() if "word_embeddings" in name] == [onnx.TensorProto.FLOAT16]
    summary = describe_export(int8_dir)
    assert summary.startswith(f"{INT8_FILE}, ") and f"graph {GRAPH_QUANTIZABLE_ATTENTION};" in summary
    assert "max logit difference from torch on the check sentences: fp32 " in summary and ", int8 " in summary
    classifier = Classifier.from_pretrained(int8_dir)
    assert isinstance(classifier.backend, OnnxBackend)
    expected = Classifier.from_pretrained(three_layer_model_dir).predict_proba(SENTENCES, BEFORE, AFTER)
    got = classifier.predict_proba(SENTENCES, BEFORE, AFTER)
    difference = np.abs(np.array([list(r.values()) for r in got]) - [list(r.values()) for r in expected])
    assert difference.max() < 0.05
    agreement = np.mean([max(a, key=a.get) == max(b, key=b.get) for a, b in zip(got, expected)])
    assert agreement >= 0.8  # a random tiny model has small margins; trained models agree far more


def test_torch_backend_on_onnx_only_dir_is_refused(onnx_dir):
    with pytest.raises(ModelLoadError, match="cannot load model weights"):
        Classifier.from_pretrained(onnx_dir, backend="torch")


def test_onnx_backend_without_onnx_file_is_refused(tiny_model_dir):
    with pytest.raises(ModelLoadError, match="has no ONNX file; add one with `python benchmarks/ship_model.py"):
        Classifier.from_pretrained(tiny_model_dir, backend="onnx")


def test_onnx_backed_classifier_cannot_be_saved(onnx_dir, tmp_path):
    with pytest.raises(ValueError, match="torch-backed"):
        Classifier.from_pretrained(onnx_dir).save_pretrained(tmp_path / "copy")


def test_non_empty_output_is_refused_without_overwrite(tiny_model_dir, tmp_path, monkeypatch):
    output = tmp_path / "out"
    output.mkdir()
    (output / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite"):
        export_model(tiny_model_dir, output)
    assert (output / "keep.txt").read_text() == "mine"

    import factsift.export as export

    def broken_export(*args, **kwargs):
        raise RuntimeError("export failed halfway")

    monkeypatch.setattr(export, "_export_fp32", broken_export)
    with pytest.raises(RuntimeError, match="halfway"):
        export_model(tiny_model_dir, output, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # old output kept, no staging left
    assert (output / "keep.txt").read_text() == "mine"


def test_overwrite_replaces_the_output(onnx_dir, tiny_model_dir, tmp_path, monkeypatch):
    import factsift.export as export

    def copy_export(classifier, directory, quantize):  # skip the slow export: reuse onnx_dir's files
        for path in onnx_dir.iterdir():
            shutil.copy(path, directory / path.name)
        return {"fp32_max_logit_diff": 0.0, "graph": GRAPH_QUANTIZABLE_ATTENTION}

    monkeypatch.setattr(export, "_write_export", copy_export)
    output = tmp_path / "out"
    output.mkdir()
    (output / "stale.txt").write_text("old")
    (output / "factsift.json").write_text("{}")
    export_model(tiny_model_dir, output, overwrite=True)
    assert not (output / "stale.txt").exists()
    assert isinstance(Classifier.from_pretrained(output).backend, OnnxBackend)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_export_rejects_bad_arguments(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="quantize must be None or 'int8', got 'int4'"):
        export_model(tiny_model_dir, tmp_path / "out", quantize="int4")
    with pytest.raises(ValueError, match="model directory itself"):
        export_model(tiny_model_dir, tiny_model_dir, overwrite=True)
    with pytest.raises(ModelLoadError):
        export_model(tmp_path / "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_missing_onnx_gives_install_hint(onnx_dir, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    with pytest.raises(ImportError, match=r"pip install 'factsift\[export\]'") as error:
        export_model(tiny_model_dir, tmp_path / "out")
    assert str(error.value) == ONNX_MISSING
    assert not (tmp_path / "out").exists()
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ModelLoadError, match="needs onnxruntime") as error:  # the CLI reports these
        Classifier.from_pretrained(onnx_dir)
    assert str(error.value) == ONNXRUNTIME_MISSING


OTHER_ENCODERS = {  # no token types; own position ids
    "DistilBert": {"dim": 32, "n_layers": 2, "n_heads": 2, "hidden_dim": 64},
    "Roberta": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
                "max_position_embeddings": 130, "type_vocab_size": 2},
}


@pytest.mark.parametrize("architecture", sorted(OTHER_ENCODERS))
def test_other_encoders_export_with_fused_attention(architecture, tmp_path, tokenizer):
    import transformers

    config_class = getattr(transformers, f"{architecture}Config")
    config = config_class(vocab_size=tokenizer.vocab_size, **OTHER_ENCODERS[architecture], **LABEL_IDS)
    source = save_tiny_classifier(tmp_path / architecture, tokenizer, config)
    expected = Classifier.from_pretrained(source).predict_proba(SENTENCES, BEFORE, AFTER)
    for quantize, tolerance in ((None, 1e-5), ("int8", 0.05)):
        output = export_model(source, tmp_path / f"{architecture}-{quantize}", quantize=quantize)
        settings = json.loads((output / "factsift.json").read_text())
        assert settings["extra"]["export"]["graph"] == GRAPH_QUANTIZABLE_ATTENTION
        got = Classifier.from_pretrained(output).predict_proba(SENTENCES, BEFORE, AFTER)
        np.testing.assert_allclose(
            [list(r.values()) for r in got], [list(r.values()) for r in expected], atol=tolerance
        )
