"""The graph rewrites behind scripts/perf/quantize_int8.py (its docstring describes both modes):
weight products found in an ONNX graph and replaced by com.microsoft.MatMulNBits (weight-only,
--mode nbits) or by dynamic int8 products (--mode dynamic), with the weights quantized here.
Kept apart from quantize_int8.py, which handles packages, manifests and the fidelity gate:
this module only turns one graph into another, with onnx and numpy."""
from __future__ import annotations

import re

import numpy as np
import onnx
from onnx import helper, numpy_helper


def weights_and_uses(model) -> tuple[dict, dict]:
    """The graph's initializers by name, and how many node inputs read each name. torch's
    exporter keeps one copy of identical tensors (e.g. the zero biases of random weights) and
    names the others through Identity nodes: the initializers are seen through them."""
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            inits.setdefault(node.output[0], inits[node.input[0]])
    uses = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    return inits, uses


def replace_nodes(model, nodes: list, dropped: set) -> None:
    """Gives the graph `nodes` in place of its own and drops the initializers named in `dropped`
    (the float weights that only the rewritten products read)."""
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    remaining = [i for i in model.graph.initializer if i.name not in dropped]
    del model.graph.initializer[:]
    model.graph.initializer.extend(remaining)


def quantize_weight(w: np.ndarray, block: int):
    """w [K, N] float32 -> (uint8 [N, ceil(K/block), block], scales [N * ceil(K/block)]).
    A K that is not a multiple of the block (DALL·E Mini's GLU width, 2730) is padded with
    zeros: MatMulNBits reads ceil(K/block) blocks and ignores the padding (its K attribute
    stays the real K)."""
    k, n = w.shape
    padded = -(-k // block) * block
    if padded != k:
        w = np.concatenate([w, np.zeros((padded - k, n), dtype=w.dtype)])
    blocks = w.T.reshape(n, padded // block, block).astype(np.float64)  # [N, ceil(K/block), block]
    scales = np.abs(blocks).max(axis=2) / 127.0  # [N, blocks]
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(blocks / scales[..., None]), -127, 127) + 128
    return q.astype(np.uint8), scales.reshape(-1).astype(np.float32)


def float_weight(node, inits):
    """The [K, N] float weight of a MatMul or Gemm node that takes one, with the Gemm's bias;
    None when the node is not a weight product (Gemm only as Y = A·B(^T) + C, alpha = beta = 1:
    what torch exports for nn.Linear on 2-D rows)."""
    if node.op_type == "MatMul" and len(node.input) == 2:
        weight = inits.get(node.input[1])
        transposed, bias = False, None
    elif node.op_type == "Gemm":
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get("alpha", 1.0) != 1.0 or attrs.get("beta", 1.0) != 1.0 or attrs.get("transA", 0):
            return None
        weight = inits.get(node.input[1])
        transposed = bool(attrs.get("transB", 0))
        bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
        if bias is not None and (bias not in inits or len(inits[bias].dims) != 1):
            return None
    else:
        return None
    if weight is None or len(weight.dims) != 2 or weight.data_type != onnx.TensorProto.FLOAT:
        return None
    w = numpy_helper.to_array(weight)
    w = w.T if transposed else w  # [K, N]
    return weight.name, np.ascontiguousarray(w), bias


def rewrite(path: str, accuracy_level: int, block: int) -> tuple[int, int]:
    model = onnx.load(path)
    inits, uses = weights_and_uses(model)
    nodes, dropped, rewritten, kept = [], set(), 0, 0
    for node in model.graph.node:
        found = float_weight(node, inits)
        if found is None:
            kept += node.op_type in ("MatMul", "Gemm")
            nodes.append(node)
            continue
        weight_name, w, bias = found
        k, n = w.shape
        q, scales = quantize_weight(w, block)
        stem = f"{node.name or node.output[0]}_int8"
        model.graph.initializer.extend([numpy_helper.from_array(q, f"{stem}.q"), numpy_helper.from_array(scales, f"{stem}.scales")])
        # A Gemm's bias is MatMulNBits' optional sixth input (after zero points and g_idx).
        inputs = [node.input[0], f"{stem}.q", f"{stem}.scales"] + (["", "", bias] if bias else [])
        nodes.append(helper.make_node("MatMulNBits", inputs, list(node.output), name=stem,
                                      domain="com.microsoft", K=k, N=n, bits=8, block_size=block, accuracy_level=accuracy_level))
        rewritten += 1
        if node.input[1] == weight_name and uses[weight_name] == 1:  # not shared, not behind an Identity
            dropped.add(weight_name)
    replace_nodes(model, nodes, dropped)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, path)
    return rewritten, kept


def quantize_per_channel(w: np.ndarray, bits: int):
    """w [K, N] float32 -> (int8 [K, N], scales [N]): symmetric per output channel (column),
    zero point 0, |q| <= 2^(bits-1) - 1. bits=7 leaves headroom for CPUs whose u8 x s8 kernels
    add pairs of products in int16 (AVX2 without VNNI: vpmaddubsw saturates), as onnxruntime's
    own quantizer does with reduce_range."""
    top = float(2 ** (bits - 1) - 1)
    scales = np.abs(w).max(axis=0).astype(np.float64) / top  # [N]
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(w / scales[None, :]), -top, top).astype(np.int8)
    return q, scales.astype(np.float32)


def rewrite_dynamic(model, kernel: str, keep_float: list, bits: int) -> dict:
    """Every weight product of `model` (in place) -> dynamic int8 (see the module doc).
    Returns counts: rewritten products, products kept float by name, activation products."""
    inits, uses = weights_and_uses(model)
    nodes, dropped = [], set()
    counts = {"int8": 0, "keptFloat": 0, "activationProducts": 0, "kept": []}
    for node in model.graph.node:
        found = float_weight(node, inits)
        if found is None:
            counts["activationProducts"] += node.op_type in ("MatMul", "Gemm")
            nodes.append(node)
            continue
        name = node.name or node.output[0]
        if any(re.search(p, name) for p in keep_float):
            counts["keptFloat"] += 1
            counts["kept"].append(name)
            nodes.append(node)
            continue
        weight_name, w, bias = found
        q, scales = quantize_per_channel(w, bits)
        stem = f"{name}_int8"
        model.graph.initializer.extend([numpy_helper.from_array(q, f"{stem}.w"), numpy_helper.from_array(scales, f"{stem}.scale")])
        out = node.output[0]
        if kernel == "fused":
            # DynamicQuantizeMatMul(A, B, b_scale, b_zero_point, bias): per-column scales, no zero point (symmetric).
            inputs = [node.input[0], f"{stem}.w", f"{stem}.scale"] + (["", bias] if bias else [])
            nodes.append(helper.make_node("DynamicQuantizeMatMul", inputs, [out], name=stem, domain="com.microsoft"))
        else:
            a = [f"{stem}.a_q", f"{stem}.a_scale", f"{stem}.a_zp"]
            nodes.append(helper.make_node("DynamicQuantizeLinear", [node.input[0]], a, name=f"{stem}/quantize"))
            nodes.append(helper.make_node("MatMulInteger", [a[0], f"{stem}.w", a[2]], [f"{stem}.i32"], name=f"{stem}/matmul"))
            nodes.append(helper.make_node("Cast", [f"{stem}.i32"], [f"{stem}.f32"], name=f"{stem}/cast", to=onnx.TensorProto.FLOAT))
            nodes.append(helper.make_node("Mul", [a[1], f"{stem}.scale"], [f"{stem}.s"], name=f"{stem}/scales"))
            nodes.append(helper.make_node("Mul", [f"{stem}.f32", f"{stem}.s"], [f"{stem}.y" if bias else out], name=f"{stem}/scale"))
            if bias:
                nodes.append(helper.make_node("Add", [f"{stem}.y", bias], [out], name=f"{stem}/bias"))
        counts["int8"] += 1
        if node.input[1] == weight_name and uses[weight_name] == 1:  # not shared, not behind an Identity
            dropped.add(weight_name)
    replace_nodes(model, nodes, dropped)
    if kernel == "fused" and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    for o in model.opset_import:  # DynamicQuantizeLinear and MatMulInteger: opset 11 and 10
        if o.domain in ("", "ai.onnx") and o.version < 11:
            o.version = 11
    return counts
