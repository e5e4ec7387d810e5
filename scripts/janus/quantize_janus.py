#!/usr/bin/python3
"""Weight-only 4- or 8-bit files of a Janus graph, named as onnx-community names them
(`_q4`, `_quantized`), so variant choice and the benchmark have them without the hub.

    /usr/bin/python3 scripts/janus/quantize_janus.py DIR/onnx/language_model.onnx --bits 4   # -> language_model_q4.onnx
    /usr/bin/python3 scripts/janus/quantize_janus.py DIR/onnx/language_model.onnx --bits 8   # -> language_model_quantized.onnx

Every weight product (MatMul or Gemm over a 2-D float initializer) becomes
com.microsoft.MatMulNBits (block 32, symmetric: zero point 8 at 4 bits, 128 at 8), as
onnxruntime's MatMul4BitsQuantizer writes transformers.js's q4 files; inputs and outputs stay
float32. (onnx-community's `_quantized` files are dynamic int8 instead: the same I/O, another
kernel.) The graph search is scripts/perf/int8_rewrite.py's.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "perf"))
from int8_rewrite import float_weight, replace_nodes, weights_and_uses  # noqa: E402

BLOCK = 32


def quantize(w: np.ndarray, bits: int):
    """w [K, N] -> (uint8 [N, K/32, 32*bits/8], scales [N*K/32]); K is a multiple of 32 in Janus."""
    k, n = w.shape
    top = (1 << (bits - 1)) - 1  # 7 or 127
    blocks = w.T.reshape(n, k // BLOCK, BLOCK).astype(np.float64)
    scales = np.abs(blocks).max(axis=2) / top
    scales[scales == 0] = 1.0
    q = (np.clip(np.rint(blocks / scales[..., None]), -top, top) + (top + 1)).astype(np.uint8)
    if bits == 4:
        q = q[..., 0::2] | (q[..., 1::2] << 4)  # two codes a byte, the lower index in the low nibble
    return np.ascontiguousarray(q), scales.reshape(-1).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("graph")
    ap.add_argument("--bits", type=int, choices=[4, 8], required=True)
    args = ap.parse_args()
    model = onnx.load(args.graph)
    inits, uses = weights_and_uses(model)
    nodes, dropped, rewritten = [], set(), 0
    for node in model.graph.node:
        found = float_weight(node, inits)
        if found is None or found[1].shape[0] % BLOCK != 0:
            nodes.append(node)
            continue
        weight_name, w, bias = found
        k, n = w.shape
        q, scales = quantize(w, args.bits)
        stem = f"{node.name or node.output[0]}_q{args.bits}"
        model.graph.initializer.extend([numpy_helper.from_array(q, f"{stem}.q"), numpy_helper.from_array(scales, f"{stem}.scales")])
        inputs = [node.input[0], f"{stem}.q", f"{stem}.scales"] + (["", "", bias] if bias else [])
        nodes.append(helper.make_node("MatMulNBits", inputs, list(node.output), name=stem, domain="com.microsoft",
                                      K=k, N=n, bits=args.bits, block_size=BLOCK, accuracy_level=4))
        rewritten += 1
        if node.input[1] == weight_name and uses[weight_name] == 1:
            dropped.add(weight_name)
    replace_nodes(model, nodes, dropped)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    stem, ext = os.path.splitext(args.graph)
    out = f"{stem}{'_q4' if args.bits == 4 else '_quantized'}{ext}"
    large = model.ByteSize() > 1.9e9
    onnx.save(model, out, save_as_external_data=large, location=os.path.basename(out) + "_data" if large else None)
    print(f"{out}: {rewritten} weight products at {args.bits} bits")


if __name__ == "__main__":
    main()
