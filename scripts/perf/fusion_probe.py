"""Explicit fused nodes in an int8 step graph, probed (issue 27, "fewer nodes per layer"): writes a
variant of a package's int8 step graph in which

  - each weight product's chain (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul by the
    scales, and the bias Add after it) is one com.microsoft.DynamicQuantizeMatMul with its bias;
  - each LayerNorm the exporter wrote out (ReduceMean, Sub, Pow, ReduceMean, Add eps, Sqrt, Div,
    Mul gamma, Add beta) is one com.microsoft.SkipLayerNormalization with the residual Add before
    it folded in (its sum as the node's fourth output), or a LayerNormalization where no residual
    Add precedes it.

onnxruntime's own optimizer (level 'all') already fuses each product chain into a
DynamicQuantizeMatMul and each LayerNorm into a LayerNormalization; this probe asks whether
writing the larger fusions by hand (bias and residual inside) saves the nodes' fixed costs.
Measured 2026-12-06 (docs/benchmarks.md): no; onnxruntime's CPU SkipLayerNormalization with the
sum output took 4.5 ms against 0.5 ms for the LayerNormalizations it replaced at 256 rows.
Timed with bench/perf/kv16-probe.ts (a variant with the original's input types gets the same feeds):

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/fusion_probe.py models/default/generator/step.int8.onnx out/fuse/step.int8.fused.onnx [--products-only]
  TESSERA_THREADS=1 node --import tsx bench/perf/kv16-probe.ts --graph models/default/generator/step.int8.onnx \
      --variant out/fuse/step.int8.fused.onnx --rows 64,256 --slots 48 --rounds 11
"""
from __future__ import annotations

import sys

import onnx
from onnx import helper, numpy_helper


def constant_value(model, name: str):
    """The array of an initializer or Constant node output `name`, else None."""
    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            return numpy_helper.to_array(node.attribute[0].t)
    return None


def constant_names(model) -> set:
    """Initializers, Constant outputs, and Identity copies of them (the exporter's deduplicated tensors)."""
    names = {i.name for i in model.graph.initializer} | {n.output[0] for n in model.graph.node if n.op_type == "Constant"}
    names |= {n.output[0] for n in model.graph.node if n.op_type == "Identity" and n.input[0] in names}
    return names


def consumers(model, name: str) -> list:
    return [n for n in model.graph.node if name in n.input]


def key(node) -> str:
    """A node's name in this script: its first output (unique in a graph; Python's protobuf wrappers have no stable id())."""
    return node.output[0]


def replace_nodes(model, removed: set, placed: dict) -> None:
    """Drops the nodes whose key is in `removed`, puts placed[key] in their place, then sorts the graph topologically."""
    nodes = []
    for n in model.graph.node:
        if key(n) in placed:
            nodes.append(placed[key(n)])
        if key(n) not in removed:
            nodes.append(n)
    known = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    ordered, pending = [], nodes
    while pending:
        ready = [n for n in pending if all(i in known for i in n.input)]
        if not ready:
            raise SystemExit(f"fusion_probe: no order for {pending[0].name}")
        for n in ready:
            ordered.append(n)
            known |= set(n.output)
        done = {key(r) for r in ready}
        pending = [n for n in pending if key(n) not in done]
    del model.graph.node[:]
    model.graph.node.extend(ordered)


def fuse_products(model) -> int:
    """DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scales) [-> Add(bias)] as one DynamicQuantizeMatMul (int8_rewrite.py's names)."""
    inits = constant_names(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    removed, placed, count = set(), {}, 0
    for quantize in [n for n in model.graph.node if n.op_type == "DynamicQuantizeLinear"]:
        base = quantize.name.rsplit("/", 1)[0]
        matmul = producer.get(base + ".i32")
        if matmul is None or matmul.op_type != "MatMulInteger":
            continue
        chain = [quantize, matmul, producer[base + ".f32"], producer[base + ".s"], producer[base + ".y"]]
        inputs, output = [quantize.input[0], matmul.input[1], base + ".scale", ""], base + ".y"
        users = consumers(model, output)
        if len(users) == 1 and users[0].op_type == "Add" and any(i in inits for i in users[0].input):
            inputs.append(next(i for i in users[0].input if i != output))
            output = users[0].output[0]
            chain.append(users[0])
        removed |= {key(n) for n in chain}
        placed[key(chain[-1])] = helper.make_node("DynamicQuantizeMatMul", inputs, [output], name=base + "/fused", domain="com.microsoft")
        count += 1
    replace_nodes(model, removed, placed)
    return count


def fuse_layer_norms(model) -> int:
    """The exporter's decomposed LayerNorms (and the residual Add before each) as SkipLayerNormalization / LayerNormalization."""
    inits = constant_names(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    removed, placed, count = set(), {}, 0
    for mean in [n for n in model.graph.node if n.op_type == "ReduceMean"]:
        subs = [c for c in consumers(model, mean.output[0]) if c.op_type == "Sub"]
        if len(subs) != 1:
            continue
        pows = [c for c in consumers(model, subs[0].output[0]) if c.op_type == "Pow"]
        divs = [c for c in consumers(model, subs[0].output[0]) if c.op_type == "Div"]
        if len(pows) != 1 or len(divs) != 1:
            continue
        variance = consumers(model, pows[0].output[0])[0]
        add_eps = consumers(model, variance.output[0])[0]
        sqrt = consumers(model, add_eps.output[0])[0]
        epsilon = float(constant_value(model, next(i for i in add_eps.input if i != variance.output[0])).reshape(-1)[0])
        times_gamma = consumers(model, divs[0].output[0])[0]
        plus_beta = consumers(model, times_gamma.output[0])[0]
        gamma = next(i for i in times_gamma.input if i in inits)
        beta = next(i for i in plus_beta.input if i in inits)
        chain = [mean, subs[0], pows[0], variance, add_eps, sqrt, divs[0], times_gamma, plus_beta]
        x = mean.input[0]
        residual = producer.get(x)
        if residual is not None and residual.op_type == "Add" and not any(i in inits for i in residual.input):
            node = helper.make_node("SkipLayerNormalization", [residual.input[0], residual.input[1], gamma, beta], [plus_beta.output[0], "", "", x], name=x + "/skip_layer_norm", domain="com.microsoft", epsilon=epsilon)
            chain.append(residual)
        else:
            node = helper.make_node("LayerNormalization", [x, gamma, beta], [plus_beta.output[0]], name=x + "/layer_norm", axis=-1, epsilon=epsilon)
        removed |= {key(n) for n in chain}
        placed[key(plus_beta)] = node
        count += 1
    replace_nodes(model, removed, placed)
    return count


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    products_only = "--products-only" in sys.argv  # the product chains alone, LayerNorms left to onnxruntime
    source, target = args[0], args[1]
    model = onnx.load(source)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    products = fuse_products(model)
    norms = 0 if products_only else fuse_layer_norms(model)
    onnx.save(model, target)
    print(f'{{"products": {products}, "layerNorms": {norms}, "nodes": {len(model.graph.node)}}}')


if __name__ == "__main__":
    main()
