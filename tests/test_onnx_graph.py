"""Graph rewrites for onnxruntime: per-token int8 MatMuls and split SkipLayerNormalization."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from factsift.onnx_graph import _split_skip_layer_norms, per_token_int8  # noqa: E402


def run(model, **inputs) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, inputs)[0]


def matmul_model(weight: np.ndarray):
    node = helper.make_node("MatMul", ["x", "w"], ["y"], name="ffn")
    graph = helper.make_graph(
        [node], "ffn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None, weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None, weight.shape[1]])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_per_token_int8_keeps_ordinary_tokens_precise_beside_an_outlier(tmp_path):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(64, 16)).astype(np.float32)
    x = rng.normal(size=(2, 6, 64)).astype(np.float32)
    x[0, 0, 3] = 80.0  # one token with an outlier, as [CLS]/[SEP] have in BERT models
    x[1, 2] = 0.0  # an all-zero token
    x[1, 3, :2] = [-5.0, 5.0]  # exact ±max: must not wrap around uint8
    model = matmul_model(weight)
    expected = x @ weight

    rewritten = per_token_int8(model)
    assert [node.op_type for node in rewritten.graph.node].count("MatMulIntegerToFloat") == 1
    assert "MatMul" not in [node.op_type for node in rewritten.graph.node]
    got = run(rewritten, x=x)
    onnx.save(model, tmp_path / "fp32.onnx")
    quantize_dynamic(tmp_path / "fp32.onnx", tmp_path / "per_run.onnx", weight_type=QuantType.QInt8, per_channel=True)
    per_run = run(onnx.load(tmp_path / "per_run.onnx"), x=x)

    ordinary = np.ones(x.shape[:2], dtype=bool)
    ordinary[0, 0] = False
    error = np.abs(got - expected)[ordinary].max()
    assert error < 0.1 * np.abs(expected).mean()
    assert error * 5 < np.abs(per_run - expected)[ordinary].max()  # the batch-wide scale loses precision
    np.testing.assert_array_equal(got[1, 2], 0.0)
    assert np.abs(got[0, 0] - expected[0, 0]).max() < 0.05 * np.abs(expected[0, 0]).max()  # coarse but no wrap


def test_per_token_int8_leaves_square_weights_alone():
    square = matmul_model(np.eye(8, dtype=np.float32))
    assert per_token_int8(square).graph.node[0].op_type == "MatMul"


def test_split_skip_layer_norm_matches_the_fused_op():
    rng = np.random.default_rng(1)
    hidden = 12
    x, skip = (rng.normal(size=(2, 5, hidden)).astype(np.float32) for _ in range(2))
    gamma, beta, bias = (rng.normal(size=hidden).astype(np.float32) for _ in range(3))
    node = helper.make_node(
        "SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y", "", "", "sum"],
        name="sln", domain="com.microsoft", epsilon=1e-12,
    )
    after = helper.make_node("Add", ["y", "sum"], ["out"], name="after")  # reads the sum output too
    graph = helper.make_graph(
        [node, after], "sln",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [2, 5, hidden]) for name in ("x", "skip")],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [2, 5, hidden])],
        initializer=[numpy_helper.from_array(v, n) for v, n in ((gamma, "gamma"), (beta, "beta"), (bias, "bias"))],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)]
    )
    expected = run(model, x=x, skip=skip)
    _split_skip_layer_norms(model.graph)
    assert [node.op_type for node in model.graph.node] == ["Add", "Add", "LayerNormalization", "Add"]
    np.testing.assert_allclose(run(model, x=x, skip=skip), expected, atol=1e-5)
