"""Graph rewrites that make an exported encoder fast on onnxruntime's CPU kernels, and int8 quantization.

Each rewrite returns a new graph or ``None``; :func:`factsift.export.export_model` keeps the first
candidate whose logits still match torch, so a rewrite that does not fit an architecture costs
speed, never correctness.

Measured on models/factsift-minilm, 300 sentences alone, 2 threads: the fusions take fp32 from 252
to 315 sentences/s, and int8 from about 350 to 640 (benchmarks/speed.py has the full table).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# A per-token activation maps the token's largest magnitude to this many levels either side of
# _ZERO_POINT: 7 bits, so that no pair of uint8 x int8 products overflows int16 in the u8s8 kernels
# of CPUs without VNNI (AVX2: pmaddubsw saturates), as onnxruntime's own reduce_range does.
_HALF_RANGE = 62.5
_ZERO_POINT = 64
# Large enough to fold BERT-large's packed query/key/value weights (1024 x 3072) into initializers.
_FOLD_LIMIT = 1 << 26
_MICROSOFT = "com.microsoft"
_MASK_INPUT = "attention_mask"


def fuse_for_onnxruntime(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """Fuse attention, GELU and layer norms into onnxruntime contrib ops (onnxscript's ORT fusions).

    The packed query/key/value weights the attention fusion concatenates are folded into
    initializers (the quantizer only quantizes initializer weights), and SkipLayerNormalization is
    split back into Add + LayerNormalization: onnxruntime's CPU kernel for it is about 7x slower
    than LayerNormalization's (measured with onnxruntime 1.32). None when the fusion fails.
    """
    try:
        from onnxscript import ir
        from onnxscript.optimizer import fold_constants, remove_unused_nodes
        from onnxscript.rewriter.ort_fusions import optimize_for_ort

        graph = ir.from_proto(model)
        graph, _ = optimize_for_ort(graph)
        fold_constants(graph, input_size_limit=_FOLD_LIMIT, output_size_limit=_FOLD_LIMIT)
        remove_unused_nodes(graph)
        fused = ir.to_proto(graph)
    except Exception:  # an optional speed-up: callers fall back to the graph as exported
        return None
    _split_skip_layer_norms(fused.graph)
    return fused


def with_padding_mask_attention(model: onnx.ModelProto) -> onnx.ModelProto | None:
    """Feed fused Attention nodes the raw ``attention_mask`` (their ``mask_index`` input) instead of
    the additive bias computed from it: the form onnxruntime's quantizer turns into QAttention, whose
    int8 query/key/value projection doubles int8 speed. None when the graph has nothing to rewrite.

    Only right when the bias encodes padding alone; the export checks the logits.
    """
    graph_inputs = {value.name for value in model.graph.input}
    if _MASK_INPUT not in graph_inputs:
        return None
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    mask = f"{_MASK_INPUT}_int32"
    changed = 0
    for node in graph.node:
        if node.op_type != "Attention" or node.domain != _MICROSOFT:
            continue
        inputs = list(node.input) + [""] * (6 - len(node.input))
        sizes = next((a for a in node.attribute if a.name == "qkv_hidden_sizes"), None)
        if len(inputs) > 6 or any(inputs[3:5]) or not inputs[5] or (sizes and len(set(sizes.ints)) > 1):
            continue
        if sizes is not None:
            node.attribute.remove(sizes)  # equal sizes are the default; QAttention rejects the attribute
        inputs[3], inputs[5] = mask, ""
        del node.input[:]
        node.input.extend(inputs[:4])
        changed += 1
    if not changed:
        return None
    graph.node.insert(0, helper.make_node("Cast", [_MASK_INPUT], [mask], name=f"{mask}_cast", to=TensorProto.INT32))
    _remove_dead_nodes(graph)
    return rewritten


def _split_skip_layer_norms(graph: onnx.GraphProto) -> None:
    """Replace each SkipLayerNormalization whose statistics outputs are unused with Add (+ Add bias)
    and LayerNormalization, in place."""
    used = {name for node in graph.node for name in node.input} | {value.name for value in graph.output}
    nodes = []
    for node in graph.node:
        epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), None)
        outputs = list(node.output) + [""] * (4 - len(node.output))
        if node.op_type != "SkipLayerNormalization" or epsilon is None or used & set(filter(None, outputs[1:3])):
            nodes.append(node)
            continue
        x, skip, gamma, beta, bias = (list(node.input) + [""] * 5)[:5]
        total = outputs[3] if outputs[3] in used else f"{node.name}/skip_sum"
        plain_sum = f"{node.name}/sum" if bias else total
        nodes.append(helper.make_node("Add", [x, skip], [plain_sum], name=f"{node.name}/add"))
        if bias:
            nodes.append(helper.make_node("Add", [plain_sum, bias], [total], name=f"{node.name}/add_bias"))
        norm_inputs = [total, gamma] + ([beta] if beta else [])
        nodes.append(helper.make_node(
            "LayerNormalization", norm_inputs, [outputs[0]], name=f"{node.name}/norm", axis=-1, epsilon=epsilon,
        ))
    del graph.node[:]
    graph.node.extend(nodes)


def _remove_dead_nodes(graph: onnx.GraphProto) -> None:
    """Drop nodes and initializers nothing reads any more."""
    outputs = {value.name for value in graph.output}
    while True:
        read = {name for node in graph.node for name in node.input} | outputs
        alive = [node for node in graph.node if read & set(node.output)]
        if len(alive) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(alive)
    read = {name for node in graph.node for name in node.input}
    initializers = [tensor for tensor in graph.initializer if tensor.name in read]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def quantize_int8(fp32: onnx.ModelProto, int8_path: Path) -> None:
    """Dynamic int8 quantization with int8 weights (per output channel) and activations quantized at
    run time: per token for the feed-forward MatMuls (:func:`per_token_int8`), per tensor for the
    attention (QAttention) and the other MatMuls. The pooler and the classifier stay fp32; embedding
    tables are stored in float16 (:func:`float16_embeddings`).
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = float16_embeddings(per_token_int8(fp32))
    # quantize_dynamic first rewrites a Gemm as "<name>_MatMul" + Add; the head gains nothing from int8
    head = [name for node in model.graph.node if node.op_type == "Gemm" for name in (node.name, f"{node.name}_MatMul")]
    root = logging.getLogger()
    root.addFilter(_skip_preprocessing_advice)
    try:
        quantize_dynamic(
            model,
            str(int8_path),
            op_types_to_quantize=["MatMul", "Attention"],
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=head,
        )
    finally:
        root.removeFilter(_skip_preprocessing_advice)


def per_token_int8(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite the MatMuls with a non-square 2-D weight (a transformer's feed-forward up- and
    down-projections) as int8 MatMuls whose input is quantized with one scale per token.

    onnxruntime's dynamic quantization gives the whole batch one activation scale, set by its
    largest value; a few tokens carry values 8x larger than the rest (measured on MiniLM: per-token
    maximum 3.5 at the median, 28 at the most), and the other tokens then keep only a few bits.
    A token's values are scaled to [-62.5, 62.5], shifted by 64.5 and cast to uint8 (Cast truncates:
    this rounds; the 7-bit range keeps AVX2 kernels from saturating); weights are symmetric int8 per
    output column.
    """
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    weights = {tensor.name: tensor for tensor in graph.initializer}
    shared = {
        "axes": np.array([-1], dtype=np.int64),
        "levels": np.array(_HALF_RANGE, dtype=np.float32),
        "tiny": np.array(1e-12, dtype=np.float32),
        "offset": np.array(_ZERO_POINT + 0.5, dtype=np.float32),
        "one": np.array(1.0, dtype=np.float32),
        "zero_point": np.array(_ZERO_POINT, dtype=np.uint8),
    }
    names = {key: f"per_token_int8/{key}" for key in shared}
    nodes = []
    for node in graph.node:
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2 or weight.dims[0] == weight.dims[1]:
            nodes.append(node)
            continue
        values = numpy_helper.to_array(weight).astype(np.float32)
        column_scale = np.maximum(np.abs(values).max(axis=0), 1e-12) / 127.0
        quantized = np.clip(np.round(values / column_scale), -127, 127).astype(np.int8)
        prefix = f"{node.name}/per_token"
        graph.initializer.extend([
            numpy_helper.from_array(quantized, f"{prefix}/weight"),
            numpy_helper.from_array(column_scale.astype(np.float32), f"{prefix}/weight_scale"),
        ])
        nodes += _per_token_matmul(node.input[0], node.output[0], prefix, names)
    if len(nodes) == len(graph.node):
        return rewritten
    graph.initializer.extend(numpy_helper.from_array(value, names[key]) for key, value in shared.items())
    del graph.node[:]
    graph.node.extend(nodes)
    _remove_dead_nodes(graph)
    if not any(opset.domain == _MICROSOFT for opset in rewritten.opset_import):
        rewritten.opset_import.append(helper.make_opsetid(_MICROSOFT, 1))
    return rewritten


def float16_embeddings(model: onnx.ModelProto) -> onnx.ModelProto:
    """Store the float32 tables Gather nodes read rows from (token, position and token-type
    embeddings) in float16, and cast the gathered rows back to float32.

    The token embeddings are most of a small encoder's int8 file (MiniLM: 47 of 58 MB); float16
    halves them, and a row rounded to float16 moves the logits far less than int8 weights do.
    """
    rewritten = onnx.ModelProto()
    rewritten.CopyFrom(model)
    graph = rewritten.graph
    tables = {tensor.name: tensor for tensor in graph.initializer
              if tensor.data_type == TensorProto.FLOAT and len(tensor.dims) == 2}
    halved: dict[str, str] = {}
    nodes = []
    for node in graph.node:
        nodes.append(node)
        if node.op_type != "Gather" or node.domain not in ("", "ai.onnx") or node.input[0] not in tables:
            continue
        table = node.input[0]
        if table not in halved:
            halved[table] = f"{table}/float16"
            values = numpy_helper.to_array(tables[table]).astype(np.float16)
            graph.initializer.append(numpy_helper.from_array(values, halved[table]))
        rows = node.output[0]
        node.input[0], node.output[0] = halved[table], f"{rows}/float16"
        nodes.append(helper.make_node("Cast", [node.output[0]], [rows], name=f"{node.name}/to_float32",
                                      to=TensorProto.FLOAT))
    if not halved:
        return rewritten
    del graph.node[:]
    graph.node.extend(nodes)
    _remove_dead_nodes(graph)
    return rewritten


def _per_token_matmul(x: str, output: str, prefix: str, shared: dict[str, str]) -> list[onnx.NodeProto]:
    """Nodes computing ``output = x @ W`` with ``x`` quantized per token (see :func:`per_token_int8`)."""
    def name(part: str) -> str:
        return f"{prefix}/{part}"

    return [
        helper.make_node("Abs", [x], [name("abs")], name=name("abs")),
        helper.make_node("ReduceMax", [name("abs"), shared["axes"]], [name("max")], name=name("max"), keepdims=1),
        helper.make_node("Max", [name("max"), shared["tiny"]], [name("range")], name=name("range")),
        helper.make_node("Div", [shared["levels"], name("range")], [name("to_levels")], name=name("to_levels")),
        helper.make_node("Mul", [x, name("to_levels")], [name("levels")], name=name("levels")),
        helper.make_node("Add", [name("levels"), shared["offset"]], [name("shifted")], name=name("shifted")),
        helper.make_node("Cast", [name("shifted")], [name("quantized")], name=name("quantized"), to=TensorProto.UINT8),
        helper.make_node(
            "MatMulIntegerToFloat",
            [name("quantized"), name("weight"), shared["one"], name("weight_scale"), shared["zero_point"]],
            [name("product")], name=name("product"), domain=_MICROSOFT,
        ),
        helper.make_node("Div", [name("range"), shared["levels"]], [name("scale")], name=name("scale")),
        helper.make_node("Mul", [name("product"), name("scale")], [output], name=name("output")),
    ]


def _skip_preprocessing_advice(record: logging.LogRecord) -> bool:
    """Drop onnxruntime's 'Please consider to run pre-processing before quantization' warning."""
    return not record.getMessage().startswith("Please consider to run pre-processing")
