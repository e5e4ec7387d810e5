"""One layer's attention over a per-row KV cache, written four ways, for bench/perf/gqa-probe.ts
(issue 27, "a fused attention over an int8 cache"):

  float        the step graphs' own form (scripts/perf/attention_rewrite.py, keys-first):
               MatMul(past_key [R,H,S,D], q [R,H,D,1]) -> [R,H,1,S], mask Add, Softmax,
               MatMul(probs, past_value [R,H,S,D]) -> [R,H,1,D]; a float32 cache.
  gqa-float    onnxruntime's fused com.microsoft.GroupQueryAttention (num_heads = kv_num_heads = H,
               one new token per row, seqlens_k per row) over a float32 cache [R,H,maxS,D].
  gqa-int8     the same node reading an int8 cache (k_quant_type = v_quant_type = PER_TENSOR,
               kv_cache_bit_width 8, one float scale each for keys and values): onnxruntime 1.30's
               CPU provider runs it (found 2026-12-06), the only fused int8-cache attention it has.
  gqa-int8-channel  the same with PER_CHANNEL scales ([1,H,1,D]).

GroupQueryAttention appends the new token's key and value itself (present_key/present_value; the
bench binds them to the past buffers, which onnxruntime then shares instead of copying the cache).
No rotary embedding, no local window: plain attention as the shapes model and DALL·E Mini use it.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/gqa_probe.py --out out/gqa --heads 8 --head-dim 32
"""
from __future__ import annotations

import argparse
import json
import os

import onnx
from onnx import TensorProto, helper

R, S = "rows", "slots"


def plain(heads: int, head_dim: int):
    """The step graphs' float attention: keys-first score product, masked softmax, value product."""
    inputs = [
        helper.make_tensor_value_info("q", TensorProto.FLOAT, [R, heads, head_dim, 1]),
        helper.make_tensor_value_info("past_key", TensorProto.FLOAT, [R, heads, S, head_dim]),
        helper.make_tensor_value_info("past_value", TensorProto.FLOAT, [R, heads, S, head_dim]),
        helper.make_tensor_value_info("mask", TensorProto.FLOAT, [R, 1, 1, S]),
    ]
    shape = helper.make_tensor("as_row", TensorProto.INT64, [4], [0, 0, 1, -1])
    nodes = [
        helper.make_node("MatMul", ["past_key", "q"], ["scores_column"]),  # [R,H,S,1]
        helper.make_node("Reshape", ["scores_column", "as_row"], ["scores"]),  # [R,H,1,S]
        helper.make_node("Add", ["scores", "mask"], ["masked"]),
        helper.make_node("Softmax", ["masked"], ["probs"], axis=-1),
        helper.make_node("MatMul", ["probs", "past_value"], ["context"]),  # [R,H,1,D]
    ]
    outputs = [helper.make_tensor_value_info("context", TensorProto.FLOAT, [R, heads, 1, head_dim])]
    return helper.make_model(helper.make_graph(nodes, "plain", inputs, outputs, [shape]), opset_imports=[helper.make_opsetid("", 17)])


def gqa(heads: int, head_dim: int, quant: str | None):
    """com.microsoft.GroupQueryAttention over a float32 cache (quant None) or an int8 one."""
    hidden = heads * head_dim
    cache_type = TensorProto.INT8 if quant else TensorProto.FLOAT
    inputs = [
        helper.make_tensor_value_info("query", TensorProto.FLOAT, [R, 1, hidden]),
        helper.make_tensor_value_info("key", TensorProto.FLOAT, [R, 1, hidden]),
        helper.make_tensor_value_info("value", TensorProto.FLOAT, [R, 1, hidden]),
        helper.make_tensor_value_info("past_key", cache_type, [R, heads, "max_slots", head_dim]),
        helper.make_tensor_value_info("past_value", cache_type, [R, heads, "max_slots", head_dim]),
        helper.make_tensor_value_info("seqlens_k", TensorProto.INT32, [R]),
        helper.make_tensor_value_info("total_sequence_length", TensorProto.INT32, []),
    ]
    names = [i.name for i in inputs]
    attributes = {"num_heads": heads, "kv_num_heads": heads}
    if quant:
        scale_shape = [1] if quant == "PER_TENSOR" else [1, heads, 1, head_dim]
        inputs += [helper.make_tensor_value_info("k_scale", TensorProto.FLOAT, scale_shape), helper.make_tensor_value_info("v_scale", TensorProto.FLOAT, scale_shape)]
        # Inputs 7-11 (cos/sin caches, position ids, attention bias, head sink) left out.
        names += ["", "", "", "", "", "k_scale", "v_scale"]
        attributes.update(k_quant_type=quant, v_quant_type=quant, kv_cache_bit_width=8)
    node = helper.make_node("GroupQueryAttention", names, ["context", "present_key", "present_value"], domain="com.microsoft", **attributes)
    outputs = [
        helper.make_tensor_value_info("context", TensorProto.FLOAT, [R, 1, hidden]),
        helper.make_tensor_value_info("present_key", cache_type, [R, heads, "max_slots", head_dim]),
        helper.make_tensor_value_info("present_value", cache_type, [R, heads, "max_slots", head_dim]),
    ]
    return helper.make_model(helper.make_graph([node], "gqa", inputs, outputs), opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=32)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    graphs = {
        "float": plain(args.heads, args.head_dim),
        "gqa-float": gqa(args.heads, args.head_dim, None),
        "gqa-int8": gqa(args.heads, args.head_dim, "PER_TENSOR"),
        "gqa-int8-channel": gqa(args.heads, args.head_dim, "PER_CHANNEL"),
    }
    files = {}
    for name, model in graphs.items():
        onnx.checker.check_model(model)
        files[name] = os.path.join(args.out, f"{name}.onnx")
        onnx.save(model, files[name])
    print(json.dumps({"heads": args.heads, "headDim": args.head_dim, "files": files}))


if __name__ == "__main__":
    main()
