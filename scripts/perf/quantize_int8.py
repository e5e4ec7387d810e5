"""Weight-only int8 variant of a Tessera package, by the repo's own graph rewriting (issue 12).

  /usr/bin/python3 scripts/perf/quantize_int8.py --package models/default --out models/default-int8 \
      [--accuracy-level 4] [--graphs generator,clip] [--block-size 32]

Every MatMul whose second operand is a 2-D float weight [K, N] (K padded to whole blocks),
and every Gemm over such a weight (transposed or not, with its bias; the step graphs
export nn.Linear on 2-D rows as Gemm), becomes onnxruntime's com.microsoft.MatMulNBits
with bits=8: the weight is stored as uint8 in blocks of 32 (--block-size) along K with one
float scale per block (symmetric, zero point 128, the op's default), activations stay float32. accuracy_level 4 lets onnxruntime quantize the
activations to int8 on the fly and use its int8 kernels; 0 dequantizes to float32. No
onnxruntime quantizer is needed (none can be installed here): only python3-onnx and numpy.
The variant is a whole package (a copy with the rewritten graphs, new file hashes and
"-int8" in its name), so it is selected like any package: --model DIR.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil

import numpy as np
import onnx
from onnx import helper, numpy_helper

BLOCK = 32  # the default --block-size


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
    inits = {i.name: i for i in model.graph.initializer}
    # torch's exporter keeps one copy of identical tensors (e.g. the zero biases of random
    # weights) and names the others through Identity nodes: see through them.
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            inits.setdefault(node.output[0], inits[node.input[0]])
    uses = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
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
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    remaining = [i for i in model.graph.initializer if i.name not in dropped]
    del model.graph.initializer[:]
    model.graph.initializer.extend(remaining)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, path)
    return rewritten, kept


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--accuracy-level", type=int, default=4, choices=[0, 1, 2, 3, 4])
    ap.add_argument("--graphs", default="generator", help="comma-separated: generator, clip")
    ap.add_argument("--block-size", type=int, default=BLOCK, choices=[16, 32, 64, 128],
                    help="weights per scale along K (K is padded to whole blocks)")
    args = ap.parse_args()
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out} exists; choose a new folder")
    shutil.copytree(args.package, args.out)
    manifest_path = os.path.join(args.out, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    targets = []
    if "generator" in args.graphs:
        targets += [manifest["generator"]["prefill"], manifest["generator"]["step"]]
    if "clip" in args.graphs and manifest.get("clip"):
        targets += [f for f in manifest["files"] if f.startswith(manifest["clip"] + "/") and f.endswith(".onnx")]
    for rel in targets:
        rewritten, kept = rewrite(os.path.join(args.out, rel), args.accuracy_level, args.block_size)
        with open(os.path.join(args.out, rel), "rb") as f:
            manifest["files"][rel] = hashlib.sha256(f.read()).hexdigest()
        print(f"{rel}: {rewritten} MatMul/Gemm -> int8 MatMulNBits, {kept} left in float32")
    manifest["name"] = f"{manifest['name']}-int8"
    manifest["description"] = f"{manifest['description']} Weight-only int8 ({', '.join(args.graphs.split(','))}; scripts/perf/quantize_int8.py, blocks of {args.block_size}, accuracy level {args.accuracy_level})."
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
