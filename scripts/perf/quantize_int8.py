"""Weight-only int8 variant of a Tessera package, by the repo's own graph rewriting (issue 12).

  /usr/bin/python3 scripts/perf/quantize_int8.py --package models/default --out models/default-int8 \
      [--accuracy-level 4] [--graphs generator,clip]

Every MatMul whose second operand is a 2-D float weight [K, N] (K a multiple of the block)
becomes onnxruntime's com.microsoft.MatMulNBits with bits=8: the weight is stored as uint8
in blocks of 32 along K with one float scale per block (symmetric, zero point 128, the
op's default), activations stay float32. accuracy_level 4 lets onnxruntime quantize the
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

BLOCK = 32


def quantize_weight(w: np.ndarray):
    """w [K, N] float32 -> (uint8 [N, K/BLOCK, BLOCK], scales [N * K/BLOCK])."""
    k, n = w.shape
    blocks = w.T.reshape(n, k // BLOCK, BLOCK).astype(np.float64)  # [N, blocks, BLOCK]
    scales = np.abs(blocks).max(axis=2) / 127.0  # [N, blocks]
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(blocks / scales[..., None]), -127, 127) + 128
    return q.astype(np.uint8), scales.reshape(-1).astype(np.float32)


def rewrite(path: str, accuracy_level: int) -> tuple[int, int]:
    model = onnx.load(path)
    inits = {i.name: i for i in model.graph.initializer}
    uses = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    nodes, dropped, rewritten, kept = [], set(), 0, 0
    for node in model.graph.node:
        weight = inits.get(node.input[1]) if node.op_type == "MatMul" and len(node.input) == 2 else None
        if weight is None or len(weight.dims) != 2 or weight.data_type != onnx.TensorProto.FLOAT or weight.dims[0] % BLOCK:
            kept += node.op_type == "MatMul"
            nodes.append(node)
            continue
        w = numpy_helper.to_array(weight)
        k, n = w.shape
        q, scales = quantize_weight(w)
        stem = f"{node.name or node.output[0]}_int8"
        model.graph.initializer.extend([numpy_helper.from_array(q, f"{stem}.q"), numpy_helper.from_array(scales, f"{stem}.scales")])
        nodes.append(helper.make_node("MatMulNBits", [node.input[0], f"{stem}.q", f"{stem}.scales"], list(node.output), name=stem,
                                      domain="com.microsoft", K=k, N=n, bits=8, block_size=BLOCK, accuracy_level=accuracy_level))
        rewritten += 1
        if uses[weight.name] == 1:
            dropped.add(weight.name)
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
        rewritten, kept = rewrite(os.path.join(args.out, rel), args.accuracy_level)
        with open(os.path.join(args.out, rel), "rb") as f:
            manifest["files"][rel] = hashlib.sha256(f.read()).hexdigest()
        print(f"{rel}: {rewritten} MatMuls -> int8 MatMulNBits, {kept} left in float32")
    manifest["name"] = f"{manifest['name']}-int8"
    manifest["description"] = f"{manifest['description']} Weight-only int8 ({', '.join(args.graphs.split(','))}; scripts/perf/quantize_int8.py, accuracy level {args.accuracy_level})."
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
