"""Rewrites of a step graph's attention over the KV cache (issue 27, "shrink the rest of the step"),
applied by scripts/perf/quantize_int8.py to the int8 variant's step graph (--attention keys-first).

The exporters (scripts/train/gpt.py, scripts/convert/min_dalle_modules.py) write the score
product of one new token against the cached keys as MatMul(q [R,H,1,D], Transpose(past_key)
[R,H,D,S]) with the 1/sqrt(D) scale as a scalar Mul on q or on the scores. onnxruntime turns
that into FusedMatMul(transB=1, alpha=scale): a batch of R*H products of one row, with alpha
!= 1, which misses MLAS's one-row kernels and packs each batch's keys first. Measured here
(AMD EPYC, AVX-512, 2 threads, one product per graph, 128-256 rows, 64 slots): it took
1.5-2x the time of the value product P·V that reads the same bytes.

keys-first computes the same sums the other way round: MatMul(past_key [R,H,S,D],
q [R,H,D,1]) -> [R,H,S,1], an S x D by D x 1 product per (row, head) that reads the keys in
their stored order, with q scaled beforehand (a Reshape between the Mul and the MatMul keeps
onnxruntime from folding the scale back in as alpha). q [R,H,1,D] and [R,H,D,1] are the same
floats in the same order, and so are [R,H,S,1] and [R,H,1,S]: both reshapes are free.
Only the order of the float additions in each dot product changes.
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

Q_AS_COLUMN = "attention_rewrite.q_as_column"  # Reshape target [0, 0, -1, 1]: [R,H,1,D] -> [R,H,D,1]
SCORES_AS_ROW = "attention_rewrite.scores_as_row"  # [0, 0, 1, -1]: [R,H,S,1] -> [R,H,1,S]


def _scalar(name: str, constants: dict, inits: dict):
    """The value of a one-element constant (Constant node or initializer) named `name`, else None."""
    tensor = constants.get(name)
    if tensor is None and name in inits:
        tensor = inits[name]
    if tensor is None:
        return None
    value = numpy_helper.to_array(tensor)
    return float(value.reshape(-1)[0]) if value.size == 1 else None


def keys_first_scores(model) -> int:
    """Rewrites (in place) every MatMul(q, Transpose(past_key_*, perm [0,1,3,2])) of a step graph
    to the keys-first form above; returns how many. The Transpose goes when nothing else reads it."""
    graph = model.graph
    inputs = {i.name for i in graph.input if i.name.startswith("past_key")}
    inits = {i.name: i for i in graph.initializer}
    constants = {n.output[0]: helper.get_attribute_value(n.attribute[0]) for n in graph.node
                 if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"}
    consumers: dict = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    transposed = {}  # Transpose output -> past_key input
    for node in graph.node:
        perm = [helper.get_attribute_value(a) for a in node.attribute if a.name == "perm"]
        if node.op_type == "Transpose" and node.input[0] in inputs and perm and list(perm[0]) == [0, 1, 3, 2]:
            transposed[node.output[0]] = node.input[0]
    # Plan: for each score MatMul, the node whose position gets the new nodes (the MatMul, or the
    # scalar Mul that scales its output) and what it scales by.
    plans = {}
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in transposed:
            continue
        after = consumers.get(node.output[0], [])
        scale, anchor, out = None, node, node.output[0]
        if len(after) == 1 and after[0].op_type == "Mul":
            other = [x for x in after[0].input if x != node.output[0]]
            value = _scalar(other[0], constants, inits) if len(other) == 1 else None
            if value is not None:
                scale, anchor, out = other[0], after[0], after[0].output[0]
        plans[anchor.output[0]] = (node, scale, out)  # nodes by first output: protobuf wrappers have no stable id
    if not plans:
        return 0
    skip = {plan[0].output[0] for plan in plans.values()}
    nodes = []
    for node in graph.node:
        key = node.output[0] if node.output else None
        if key in skip and key not in plans:
            continue  # a score MatMul whose rewrite sits at its scaling Mul
        if key not in plans:
            nodes.append(node)
            continue
        matmul, scale, out = plans[key]
        stem = (matmul.name or matmul.output[0]) + "_keys_first"
        q = matmul.input[0]
        if scale is not None:
            nodes.append(helper.make_node("Mul", [q, scale], [f"{stem}.q_scaled"], name=f"{stem}/scale"))  # [R,H,1,D]
            q = f"{stem}.q_scaled"
        nodes.append(helper.make_node("Reshape", [q, Q_AS_COLUMN], [f"{stem}.q"], name=f"{stem}/q"))  # [R,H,D,1]
        nodes.append(helper.make_node("MatMul", [transposed[matmul.input[1]], f"{stem}.q"], [f"{stem}.s"], name=f"{stem}/matmul"))  # [R,H,S,1]
        nodes.append(helper.make_node("Reshape", [f"{stem}.s", SCORES_AS_ROW], [out], name=f"{stem}/scores"))  # [R,H,1,S]
    read = {name for node in nodes for name in node.input}
    nodes = [n for n in nodes if not (n.op_type == "Transpose" and n.output[0] in transposed and n.output[0] not in read)]
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend([numpy_helper.from_array(np.array([0, 0, -1, 1], dtype=np.int64), Q_AS_COLUMN),
                              numpy_helper.from_array(np.array([0, 0, 1, -1], dtype=np.int64), SCORES_AS_ROW)])
    return len(plans)
