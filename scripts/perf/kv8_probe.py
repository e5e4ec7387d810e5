"""An int8 KV cache, probed at the graph level (issue 27, after the float16 probe in
scripts/perf/kv16_probe.py): writes a variant of a step graph whose self-attention cache inputs
are 8-bit integers with one float scale per (row, head, slot), read by MatMulInteger.

Why: the int8 step graphs spend ~38% of a step in attention's float products over the float32
cache, which are memory-bound (Mini-shaped, 805 MB read a step at 64 rows x 128 slots); a float16
cache did not pay (onnxruntime-node 1.30 casts it back to float32 on x86), but MatMulInteger has
native u8 x s8 kernels here (the VNNI instruction is u8 x s8 -> int32).

The source graphs (both int8 step graphs: plain keys, keys-first scores) read the cache in
MatMul(past_key [R,H,S,D], q [R,H,D,1]) and MatMul(probs [R,H,1,S], past_value [R,H,S,D]).
The variant's inputs, per layer l (--keys transposed, the default):
  past_key_l          int8  [rows, heads, headDim, slots]  round(k / scale)
  past_key_scale_l    float [rows, heads, slots]           max |k| / 127 over headDim
  past_value_l        int8  [rows, heads, slots, headDim]  round(v / scale)
  past_value_scale_l  float [rows, heads, slots]           max |v| / 127 over headDim
  scores = MatMulInteger(q8 [R,H,1,D] u8, K8 [R,H,D,S], 128) * key_scale * q_scale
  out    = MatMulInteger(p8 [R,H,1,S] u8, V8) * p_scale,  p8 = round(p * value_scale / p_scale)
Both products are then u8 x s8 (the VNNI instruction's pair, onnxruntime's QGEMM fast path) with
one row of A: q8 is q quantized per (row, head), symmetric, stored with 128 added (zero point
128); the probabilities are >= 0, so u8 with zero point 0 loses nothing. Keys are transposed
because MatMulInteger over the plain layout (the cache as A [S, D], q as the single column B:
--keys plain, keys u8 with zero point 128) ran its product at about half the speed of the
one-row form here (onnxruntime's profile, Mini-shaped, 64 rows x 128 slots: 16.8 ms against 8.8
for the values' product over as many bytes).
One scale per slot because the cache grows a slot at a time: a slot's scale is fixed when it is
written (a per-channel scale over slots would have to be recomputed as slots arrive).
p_scale = max over the slots of p * value_scale / 255 per (row, head) (--probs row) or over the
whole tensor (--probs tensor: what DynamicQuantizeLinear would do; a row whose largest
probability is far below the tensor's largest keeps fewer levels).

The new entries (new_keys, new_values) stay float32 outputs: the probe measures the step's reads.
A probe for benchmarks (bench/perf/kv8-probe.ts, bench/perf/kv8-fidelity.ts), not a package variant.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/kv8_probe.py \
      models/default/generator/step.int8.onnx out/kv8/shapes/step.int8.kv8.onnx [--probs row|tensor]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kv16_probe import external_files  # noqa: E402

U8, S8, F32 = TensorProto.UINT8, TensorProto.INT8, TensorProto.FLOAT


def consumers_of(graph) -> dict:
    """tensor name -> the nodes that read it."""
    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers


def cache_matmuls(graph) -> dict:
    """layer -> (keys MatMul, values MatMul); stops on any structure the probe does not handle."""
    consumers = consumers_of(graph)
    found: dict = {}
    for i in graph.input:
        for kind, side in (("key", 0), ("value", 1)):
            prefix = f"past_{kind}_"
            if not i.name.startswith(prefix):
                continue
            users = consumers.get(i.name, [])
            if len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[side] != i.name:
                ops = [(n.op_type, list(n.input).index(i.name)) for n in users]
                raise SystemExit(f"{i.name} is read by {ops}: only one MatMul with the cache as input {side} is handled "
                                 "(keys-first scores: scripts/perf/attention_rewrite.py)")
            dims = [d.dim_value or d.dim_param for d in i.type.tensor_type.shape.dim]
            if dims[2] != "slots":
                raise SystemExit(f"{i.name} has dims {dims}: only plain keys [rows, heads, slots, headDim] are handled")
            found.setdefault(int(i.name[len(prefix):]), {})[kind] = users[0]
    if not found:
        raise SystemExit("no past_key_* / past_value_* inputs: not a step graph")
    return found


def cross_matmuls(graph) -> dict:
    """layer -> (keys MatMul, values MatMul) of an encoder-decoder step's cross attention:
    MatMul(q [R,H,1,D], cross_key [R,H,D,T]) and MatMul(probs [R,H,1,T], cross_value [R,H,T,D])."""
    consumers = consumers_of(graph)
    found: dict = {}
    for i in graph.input:
        for kind in ("key", "value"):
            prefix = f"cross_{kind}_"
            if not i.name.startswith(prefix):
                continue
            users = consumers.get(i.name, [])
            if len(users) != 1 or users[0].op_type != "MatMul" or users[0].input[1] != i.name:
                raise SystemExit(f"{i.name} is read by {[n.op_type for n in users]}: only one MatMul with it as input 1 is handled")
            found.setdefault(int(i.name[len(prefix):]), {})[kind] = users[0]
    if not found:
        raise SystemExit("--cross: no cross_key_* / cross_value_* inputs (not an encoder-decoder step graph)")
    return found


def to_int8_cache(model, probs: str = "row", key_layout: str = "transposed", with_cross: bool = False, with_self: bool = True) -> dict:
    """Rewrites `model` in place (see the module's docstring); returns counts for the report."""
    graph = model.graph
    layers = cache_matmuls(graph) if with_self else {}
    cross = cross_matmuls(graph) if with_cross else {}
    consts = [
        numpy_helper.from_array(np.array(128, dtype=np.uint8), "kv8.zero_point_128"),
        numpy_helper.from_array(np.array(128, dtype=np.float32), "kv8.f128"),
        numpy_helper.from_array(np.array([0, 0, 1, -1], dtype=np.int64), "kv8.as_row"),
        numpy_helper.from_array(np.array(127, dtype=np.float32), "kv8.s8_levels"),
        numpy_helper.from_array(np.array(255, dtype=np.float32), "kv8.u8_levels"),
        numpy_helper.from_array(np.array(1e-30, dtype=np.float32), "kv8.tiny"),
        numpy_helper.from_array(np.array([2], dtype=np.int64), "kv8.axis2"),  # Unsqueeze's axes are an input from opset 13
        numpy_helper.from_array(np.array([3], dtype=np.int64), "kv8.axis3"),
    ]
    graph.initializer.extend(consts)
    replaced: dict = {}  # MatMul output -> the nodes that compute it instead
    mk = helper.make_node

    def quantize_q(p: str, q: str) -> list:
        """q (any [R, H, a, b]) -> {p}.q_round (integers in [-127, 127]) and {p}.q_scale [R, H, 1, 1]."""
        return [
            mk("Abs", [q], [f"{p}.q_abs"]),
            mk("ReduceMax", [f"{p}.q_abs"], [f"{p}.q_max"], axes=[2, 3], keepdims=1),  # [R, H, 1, 1]
            mk("Max", [f"{p}.q_max", "kv8.tiny"], [f"{p}.q_max_pos"]),
            mk("Div", [f"{p}.q_max_pos", "kv8.s8_levels"], [f"{p}.q_scale"]),
            mk("Div", [q, f"{p}.q_scale"], [f"{p}.q_units"]),
            mk("Round", [f"{p}.q_units"], [f"{p}.q_round"]),
        ]

    def key_product(p: str, q: str, column: bool, cache: str, scale: str, out: str) -> list:
        """q [R,H,1,D] (or [R,H,D,1]: column) as A (u8, zero point 128) x cache [R,H,D,S] s8 as B -> out [R,H,1,S]."""
        row = [mk("Reshape", [f"{p}.q8", "kv8.as_row"], [f"{p}.q8_row"])] if column else []  # [R, H, 1, D]
        return quantize_q(p, q) + [
            mk("Add", [f"{p}.q_round", "kv8.f128"], [f"{p}.q_offset"]),
            mk("Cast", [f"{p}.q_offset"], [f"{p}.q8"], to=U8),
            *row,
            mk("MatMulInteger", [f"{p}.q8_row" if column else f"{p}.q8", cache, "kv8.zero_point_128"], [f"{p}.s32"], name=f"{p}/keys"),  # [R, H, 1, S]
            mk("Cast", [f"{p}.s32"], [f"{p}.sf"], to=F32),
            mk("Unsqueeze", [scale, "kv8.axis2"], [f"{p}.k_scale"]),  # [R, H, 1, S]
            mk("Mul", [f"{p}.sf", f"{p}.k_scale"], [f"{p}.sk"]),
            mk("Mul", [f"{p}.sk", f"{p}.q_scale"], [out]),  # float scores [R, H, 1, S]
        ]

    def value_product(p: str, pr: str, cache: str, scale: str, out: str) -> list:
        """probabilities [R,H,1,S] (>= 0), the cache's per-slot scale folded in, as A (u8) x cache [R,H,S,D] s8 -> out [R,H,1,D]."""
        reduce = (mk("ReduceMax", [f"{p}.pv"], [f"{p}.p_max"], axes=[3], keepdims=1) if probs == "row"  # [R, H, 1, 1]
                  else mk("ReduceMax", [f"{p}.pv"], [f"{p}.p_max"], keepdims=1))  # [1, 1, 1, 1]
        return [
            mk("Unsqueeze", [scale, "kv8.axis2"], [f"{p}.v_scale"]),  # [R, H, 1, S]
            mk("Mul", [pr, f"{p}.v_scale"], [f"{p}.pv"]),
            reduce,
            mk("Max", [f"{p}.p_max", "kv8.tiny"], [f"{p}.p_max_pos"]),
            mk("Div", [f"{p}.p_max_pos", "kv8.u8_levels"], [f"{p}.p_scale"]),
            mk("Div", [f"{p}.pv", f"{p}.p_scale"], [f"{p}.p_units"]),
            mk("Round", [f"{p}.p_units"], [f"{p}.p_round"]),
            mk("Cast", [f"{p}.p_round"], [f"{p}.p8"], to=U8),  # [R, H, 1, S] u8
            mk("MatMulInteger", [f"{p}.p8", cache], [f"{p}.o32"], name=f"{p}/values"),  # [R, H, 1, D]
            mk("Cast", [f"{p}.o32"], [f"{p}.of"], to=F32),
            mk("Mul", [f"{p}.of", f"{p}.p_scale"], [out]),
        ]

    for l, pair in sorted(layers.items()):
        keys, values = pair["key"], pair["value"]
        p = f"kv8/{l}"
        q = keys.input[1]  # [R, H, D, 1], already scaled by 1/sqrt(D)
        if key_layout == "plain":  # cache [R,H,S,D] as A (u8, zero point 128) x q [R,H,D,1] as B (s8)
            replaced[keys.output[0]] = quantize_q(p, q) + [
                mk("Cast", [f"{p}.q_round"], [f"{p}.q8"], to=S8),  # [R, H, D, 1] s8
                mk("MatMulInteger", [f"past_key_{l}", f"{p}.q8", "kv8.zero_point_128"], [f"{p}.s32"], name=f"{p}/keys"),  # [R, H, S, 1]
                mk("Cast", [f"{p}.s32"], [f"{p}.sf"], to=F32),
                mk("Unsqueeze", [f"past_key_scale_{l}", "kv8.axis3"], [f"{p}.k_scale"]),  # [R, H, S, 1]
                mk("Mul", [f"{p}.sf", f"{p}.k_scale"], [f"{p}.sk"]),
                mk("Mul", [f"{p}.sk", f"{p}.q_scale"], [keys.output[0]]),  # float scores [R, H, S, 1]
            ]
        else:  # the Reshape after the keys-first product keeps [R, H, 1, S]
            replaced[keys.output[0]] = key_product(p, q, True, f"past_key_{l}", f"past_key_scale_{l}", keys.output[0])
        replaced[values.output[0]] = value_product(p, values.input[0], f"past_value_{l}", f"past_value_scale_{l}", values.output[0])
    for l, pair in sorted(cross.items()):  # cross keys [R,H,D,T] and values [R,H,T,D]: already in the one-row forms
        keys, values = pair["key"], pair["value"]
        replaced[keys.output[0]] = key_product(f"kv8/cross{l}", keys.input[0], False, f"cross_key_{l}", f"cross_key_scale_{l}", keys.output[0])
        replaced[values.output[0]] = value_product(f"kv8/cross{l}", values.input[0], f"cross_value_{l}", f"cross_value_scale_{l}", values.output[0])
    nodes = []
    for node in graph.node:
        nodes.extend(replaced.get(node.output[0], [node]) if node.op_type == "MatMul" else [node])
    del graph.node[:]
    graph.node.extend(nodes)
    used = {x for n in nodes for x in n.input}
    unused = [i for i in graph.initializer if i.name.startswith("kv8.") and i.name not in used]  # the other key layout's constants
    for i in unused:
        graph.initializer.remove(i)
    inputs = list(graph.input)
    del graph.input[:]
    for i in inputs:
        scale = None
        for kind, elem in (("key", U8 if key_layout == "plain" else S8), ("value", S8)):
            if with_cross and i.name.startswith(f"cross_{kind}_"):  # cross keys are [rows, heads, D, T] already
                i.type.tensor_type.elem_type = S8
                d = [x.dim_value or x.dim_param for x in i.type.tensor_type.shape.dim]
                scale = helper.make_tensor_value_info(i.name.replace(f"cross_{kind}_", f"cross_{kind}_scale_"), F32, d[:2] + [d[3] if kind == "key" else d[2]])
            if with_self and i.name.startswith(f"past_{kind}_"):
                i.type.tensor_type.elem_type = elem  # before the append: append copies the message
                shape = i.type.tensor_type.shape.dim
                dims = [d.dim_value or d.dim_param for d in shape][:3]  # [rows, heads, slots]
                if kind == "key" and key_layout == "transposed":  # [rows, heads, slots, D] -> [rows, heads, D, slots]
                    slot, dim = shape[2].dim_param, shape[3].dim_value
                    shape[2].Clear()
                    shape[2].dim_value = dim
                    shape[3].Clear()
                    shape[3].dim_param = slot
                scale = helper.make_tensor_value_info(i.name.replace(f"past_{kind}_", f"past_{kind}_scale_"), F32, dims)
        graph.input.append(i)
        if scale is not None:
            graph.input.append(scale)
    cache_names = {f"past_{k}_{l}" for l in layers for k in ("key", "value")} | {f"cross_{k}_{l}" for l in cross for k in ("key", "value")}
    kept = [v for v in graph.value_info if v.name not in cache_names]
    del graph.value_info[:]
    graph.value_info.extend(kept)
    return {"layers": len(layers), "matmul_integer": 2 * (len(layers) + len(cross)), "probs": probs, "keys": key_layout, "cross_layers": len(cross)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="a step graph (.onnx) with plain keys and keys-first scores, read-only")
    parser.add_argument("target", help="where the int8-cache variant goes (its folder is created)")
    parser.add_argument("--probs", choices=["row", "tensor"], default="row",
                        help="the probabilities' u8 scale: per (row, head) or one for the whole tensor")
    parser.add_argument("--keys", choices=["transposed", "plain"], default="transposed",
                        help="the variant's key layout: [rows, heads, headDim, slots] s8 (q is A) or [rows, heads, slots, headDim] u8 (the cache is A)")
    parser.add_argument("--cross", action="store_true", help="also an encoder-decoder's cross_key_* / cross_value_* (int8, per text position scales)")
    parser.add_argument("--only-cross", action="store_true", help="only the cross keys/values: the self-attention cache stays float")
    args = parser.parse_args()
    model = onnx.load(args.source, load_external_data=False)
    if args.only_cross:
        args.cross = True
    report = to_int8_cache(model, probs=args.probs, key_layout=args.keys, with_cross=args.cross, with_self=not args.only_cross)
    out_dir = os.path.dirname(os.path.abspath(args.target))
    os.makedirs(out_dir, exist_ok=True)
    src_dir = os.path.dirname(os.path.abspath(args.source))
    for location in sorted(external_files(model)):  # copied, not linked: the source package stays untouched
        copy = os.path.join(out_dir, location)
        source = os.path.join(src_dir, location)
        if not os.path.exists(copy) or os.path.getsize(copy) != os.path.getsize(source):
            shutil.copyfile(source, copy)
    onnx.save(model, args.target)
    onnx.checker.check_model(args.target)
    report.update(checker="ok", source=args.source, target=args.target)
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
