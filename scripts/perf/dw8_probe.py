"""An int8 KV cache read by depthwise convolutions, probed at the graph level (issue 27, the
ceiling at 128 rows and more): writes a variant of an int8 step graph (decoder-only, keys-first
attention: scripts/perf/attention_rewrite.py) whose per-row self-attention cache is int8,
channels-last, and read by onnxruntime's depthwise com.microsoft.QLinearConv.

Why a convolution. Attending over a per-row cache is a batch of R*H one-row products (GEMVs);
onnxruntime's integer MatMul runs each batch entry as its own small GEMM (0.81x of the float
cache: docs/benchmarks.md, "An int8 KV cache"). A depthwise convolution is exactly a batch of
independent dot products, one per channel, and MLAS's depthwise kernel vectorizes across
channels. With channel c = (row, head) and the cache laid out [1, slots, headDim, R*H]
(channels last):
  scores[c, t]  = sum_d q[c, d] * K[t, d, c]   a 1 x headDim kernel per channel (the q's)
  context[c, d] = sum_t p[c, t] * V[t, d, c]   a slots x 1 kernel per channel (the probabilities)
q and p are quantized per channel in the graph (symmetric int8, per (row, head) scale), the
cache per tensor with a static scale per layer (k_scale_l, v_scale_l inputs), and each
convolution's int8 output with a static scale per layer (score_scale_l, context_scale_l inputs):
QLinearConv requantizes its output, per tensor. A slot is a [headDim, R*H] block, so writing a
step's new entries would be one contiguous copy per layer.

What it costs: QLinearConv's `group` is an attribute, so the row count is fixed per graph
(--rows); the scores and the contexts pass through int8. This is a probe for
bench/perf/dw8-probe.ts (time and agreement against the original on the same cache), not a
package variant.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/dw8_probe.py models/default/generator/step.int8.onnx out/dw8/step.dw8.r256.onnx --rows 256
"""
from __future__ import annotations

import argparse
import json
import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def rewrite(model, rows: int) -> dict:
    graph = model.graph
    shapes = {i.name: [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim] for i in graph.input}
    layers = sorted(int(m.group(1)) for name in shapes if (m := re.fullmatch(r"past_key_(\d+)", name)))
    heads, head_dim = int(shapes["past_key_0"][1]), int(shapes["past_key_0"][3])
    channels = rows * heads
    producer = {o: n for n in graph.node for o in n.output}
    consumers = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    inits = [
        numpy_helper.from_array(np.array([channels, head_dim], np.int64), "dw8.q_matrix"),  # [C, D]
        numpy_helper.from_array(np.array([channels, 1, 1, head_dim], np.int64), "dw8.q_kernel"),  # [C, 1, 1, D]
        numpy_helper.from_array(np.array([channels, -1], np.int64), "dw8.per_channel"),  # [C, S]
        numpy_helper.from_array(np.array([channels, 1, -1, 1], np.int64), "dw8.p_kernel"),  # [C, 1, S, 1]
        numpy_helper.from_array(np.array([channels], np.int64), "dw8.channels"),
        numpy_helper.from_array(np.array([-1, channels], np.int64), "dw8.s_by_c"),  # [S, C]
        numpy_helper.from_array(np.array([rows, heads, -1, 1], np.int64), "dw8.scores_shape"),  # [R, H, S, 1]
        numpy_helper.from_array(np.array([rows, heads, 1, head_dim], np.int64), "dw8.context_shape"),  # [R, H, 1, D]
        numpy_helper.from_array(np.array([head_dim, channels], np.int64), "dw8.context_matrix"),  # [D, C]
        numpy_helper.from_array(np.array(1.0, np.float32), "dw8.one"),
        numpy_helper.from_array(np.array(1.0 / 127, np.float32), "dw8.per_level"),
        numpy_helper.from_array(np.array(1e-12, np.float32), "dw8.tiny"),
        numpy_helper.from_array(np.array(0, np.int8), "dw8.zero"),
        numpy_helper.from_array(np.zeros(channels, np.int8), "dw8.zeros"),
        numpy_helper.from_array(np.array(-127, np.float32), "dw8.low"),
        numpy_helper.from_array(np.array(127, np.float32), "dw8.high"),
    ]
    replaced_by = {}  # first output of the node to replace -> the nodes to put in its place
    new_inputs = []

    def quantize_per_channel(source: str, prefix: str, signed: bool) -> list:
        """x [C, n] -> int8 codes [C, n] and the per-channel scale [C, 1]: max |x| / 127 (x >= 0 when not signed)."""
        magnitude = f"{prefix}.abs" if signed else source
        out = [helper.make_node("Abs", [source], [magnitude])] if signed else []
        out += [
            helper.make_node("ReduceMax", [magnitude], [f"{prefix}.max"], axes=[1], keepdims=1),  # [C, 1]
            helper.make_node("Mul", [f"{prefix}.max", "dw8.per_level"], [f"{prefix}.scale0"]),
            helper.make_node("Max", [f"{prefix}.scale0", "dw8.tiny"], [f"{prefix}.scale"]),
            helper.make_node("Div", [source, f"{prefix}.scale"], [f"{prefix}.levels"]),
            helper.make_node("Round", [f"{prefix}.levels"], [f"{prefix}.rounded"]),
            helper.make_node("Clip", [f"{prefix}.rounded", "dw8.low", "dw8.high"], [f"{prefix}.clipped"]),
            helper.make_node("Cast", [f"{prefix}.clipped"], [f"{prefix}.codes"], to=TensorProto.INT8),
        ]
        return out

    def depthwise_product(small: str, as_matrix: str, signed: bool, as_kernel: str, cache: str, cache_scale: str,
                          out_scale: str, out_matrix: str, out: str, out_shape: str, prefix: str) -> list:
        """One attention product as a depthwise QLinearConv: `small` (q or the probabilities) quantized per
        channel becomes the kernels (weight scale = its scale x the cache's), `cache` the int8 channels-last
        input; the int8 output dequantized, its [n, C] transposed to [C, n], reshaped to `out_shape`."""
        nodes = [helper.make_node("Reshape", [small, as_matrix], [f"{prefix}.small"])]
        nodes += quantize_per_channel(f"{prefix}.small", f"{prefix}.small8", signed)
        nodes += [
            helper.make_node("Reshape", [f"{prefix}.small8.codes", as_kernel], [f"{prefix}.kernel"]),
            helper.make_node("Mul", [f"{prefix}.small8.scale", cache_scale], [f"{prefix}.weight_scale"]),
            helper.make_node("Reshape", [f"{prefix}.weight_scale", "dw8.channels"], [f"{prefix}.weight_scale_c"]),
            helper.make_node(
                "QLinearConv",
                [cache, "dw8.one", "dw8.zero", f"{prefix}.kernel", f"{prefix}.weight_scale_c", "dw8.zeros", out_scale, "dw8.zero"],
                [f"{prefix}.y8"], domain="com.microsoft", channels_last=1, group=channels,
            ),
            helper.make_node("DequantizeLinear", [f"{prefix}.y8", out_scale, "dw8.zero"], [f"{prefix}.y"]),
            helper.make_node("Reshape", [f"{prefix}.y", out_matrix], [f"{prefix}.y_n_c"]),
            helper.make_node("Transpose", [f"{prefix}.y_n_c"], [f"{prefix}.y_c_n"], perm=[1, 0]),
            helper.make_node("Reshape", [f"{prefix}.y_c_n", out_shape], [out]),
        ]
        return nodes

    for layer in layers:
        key, value = f"past_key_{layer}", f"past_value_{layer}"
        key_product = [n for n in consumers.get(key, []) if n.op_type == "MatMul"]
        value_product = [n for n in consumers.get(value, []) if n.op_type == "MatMul"]
        if len(key_product) != 1 or len(value_product) != 1 or len(consumers[key]) != 1 or len(consumers[value]) != 1:
            raise SystemExit(f"dw8_probe: layer {layer}: expected one keys-first MatMul on {key} and one MatMul on {value}")
        scores_node, context_node = key_product[0], value_product[0]
        if scores_node.input[0] != key or context_node.input[1] != value:
            raise SystemExit(f"dw8_probe: layer {layer}: not the keys-first form (run attention_rewrite.py first)")
        p = f"dw8.{layer}"
        k8, v8 = f"past_key8_{layer}", f"past_value8_{layer}"
        scale_names = [f"k_scale_{layer}", f"v_scale_{layer}", f"score_scale_{layer}", f"context_scale_{layer}"]
        new_inputs += [
            helper.make_tensor_value_info(k8, TensorProto.INT8, [1, "slots", head_dim, channels]),
            helper.make_tensor_value_info(v8, TensorProto.INT8, [1, "slots", head_dim, channels]),
        ] + [helper.make_tensor_value_info(s, TensorProto.FLOAT, []) for s in scale_names]
        k_scale, v_scale, score_scale, context_scale = scale_names
        # Scores: q [R, H, D, 1] as [C, D], kernels [C, 1, 1, D]; out [1, S, 1, C] as [S, C] -> [C, S] = [R, H, S, 1].
        scores = depthwise_product(scores_node.input[1], "dw8.q_matrix", True, "dw8.q_kernel", k8, k_scale, score_scale,
                                   "dw8.s_by_c", scores_node.output[0], "dw8.scores_shape", f"{p}.scores")
        # Context: p [R, H, 1, S] as [C, S], kernels [C, 1, S, 1]; out [1, 1, D, C] as [D, C] -> [C, D] = [R, H, 1, D].
        context = depthwise_product(context_node.input[0], "dw8.per_channel", False, "dw8.p_kernel", v8, v_scale, context_scale,
                                    "dw8.context_matrix", context_node.output[0], "dw8.context_shape", f"{p}.context")
        replaced_by[scores_node.output[0]] = scores
        replaced_by[context_node.output[0]] = context
    nodes = []
    for n in graph.node:
        if n.output[0] in replaced_by:
            nodes += replaced_by[n.output[0]]
        else:
            nodes.append(n)
    del graph.node[:]
    graph.node.extend(nodes)
    kept = [i for i in graph.input if not re.fullmatch(r"past_(key|value)_\d+", i.name)]
    del graph.input[:]
    graph.input.extend(kept + new_inputs)
    graph.initializer.extend(inits)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return {"rows": rows, "heads": heads, "headDim": head_dim, "layers": len(layers)}


def calibration_outputs(model) -> dict:
    """Adds each layer's keys-first score product and image-context product outputs to the graph's outputs."""
    graph = model.graph
    found = {"scores": [], "contexts": []}
    for layer in range(len([i for i in graph.input if re.fullmatch(r"past_key_\d+", i.name)])):
        for n in graph.node:
            if n.op_type == "MatMul" and n.input[0] == f"past_key_{layer}":
                found["scores"].append(n.output[0])
            if n.op_type == "MatMul" and len(n.input) > 1 and n.input[1] == f"past_value_{layer}":
                found["contexts"].append(n.output[0])
    for name in found["scores"] + found["contexts"]:
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
    return found


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("graph")
    ap.add_argument("out")
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--calibration", help="also write the original with each layer's scores and image context as outputs (for the static scales)")
    args = ap.parse_args()
    model = onnx.load(args.graph)
    if args.calibration:
        original = onnx.load(args.graph)
        names = calibration_outputs(original)
        onnx.save(original, args.calibration)
    report = rewrite(model, args.rows)
    onnx.save(model, args.out)
    print(json.dumps({**report, **({"calibration": names} if args.calibration else {})}))


if __name__ == "__main__":
    main()
