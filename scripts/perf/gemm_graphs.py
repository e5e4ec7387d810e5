"""Single-MatMul ONNX graphs at a step graph's own weight shapes, for the hardware ceiling.

  /usr/bin/python3 scripts/perf/gemm_graphs.py --graph models/default/generator/step.onnx --out out/ceiling

For every MatMul (or Gemm) of the graph whose second operand is a weight, one graph
`x [rows, K] @ W [K, N]` (random weights, rows dynamic) is written, one per distinct
shape, and a JSON line lists them with how many times the step uses each shape, plus the
step graph's weight bytes. bench/perf/ceiling.ts times them with onnxruntime at the
bench's row counts: that measured rate, at these shapes, is the compute ceiling.

--precision int8 writes each product as the int8 variant runs it (issue 27;
quantize_int8.py --mode dynamic): DynamicQuantizeLinear (u8 activations, per tensor) ->
MatMulInteger with int8 weights -> Cast -> Mul by the per-channel scales: the measured
rate of that is the int8 ceiling at the model's shapes (quantizing the activations included,
as the step must do it too).
"""
from __future__ import annotations

import argparse
import collections
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--graph", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    args = ap.parse_args()
    model = onnx.load(args.graph, load_external_data=False)
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    # Tables that are only gathered from (embeddings) are read one row per fed token.
    gathered = {n.input[0] for n in model.graph.node if n.op_type == "Gather"}
    read_whole = {name for name in dims if name not in gathered or any(
        name in n.input for n in model.graph.node if n.op_type != "Gather")}
    weight_bytes = sum(int(np.prod(dims[name])) * 4 for name in read_whole)
    gathered_bytes_per_row = sum(int(np.prod(dims[name][1:])) * 4 for name in dims if name not in read_whole)
    shapes = collections.Counter()
    for node in model.graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1 and len(dims.get(node.input[1], [])) == 2:
            # Always the fp32 graph's products (the int8 bench passes the fp32 step graph): the
            # same shapes, rewritten here as the variant runs them.
            k, n = dims[node.input[1]]
            if node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute):
                k, n = n, k
            shapes[(k, n)] += 1
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    listed = []
    for (k, n), count in sorted(shapes.items()):
        weight = (rng.standard_normal((k, n)) * 0.02).astype(np.float32)
        if args.precision == "int8":
            scale = np.abs(weight).max(axis=0) / 127.0  # [N]
            inits = [numpy_helper.from_array(np.rint(weight / scale).astype(np.int8), "w"), numpy_helper.from_array(scale.astype(np.float32), "scale")]
            nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
                     helper.make_node("MatMulInteger", ["xq", "w", "xz"], ["yi"]),
                     helper.make_node("Cast", ["yi"], ["yf"], to=TensorProto.FLOAT),
                     helper.make_node("Mul", ["xs", "scale"], ["s"]),
                     helper.make_node("Mul", ["yf", "s"], ["y"])]
        else:
            inits = [numpy_helper.from_array(weight, "w")]
            nodes = [helper.make_node("MatMul", ["x", "w"], ["y"])]
        graph = helper.make_graph(nodes, f"gemm_{k}x{n}",
                                  [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["rows", k])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["rows", n])], inits)
        path = os.path.join(args.out, f"gemm_{k}x{n}_{args.precision}.onnx")
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), path)
        listed.append({"file": path, "k": k, "n": n, "count": count})
    print(json.dumps({"weightBytes": weight_bytes, "gatheredBytesPerRow": gathered_bytes_per_row, "gemms": listed}))


if __name__ == "__main__":
    main()
