"""Graph passes that shrink the float work between the int8 VQ decoder's convolutions (issue 27).

Applied by scripts/perf/conv_int8.py after its QDQ rewrite (`--passes`, default all); each pass
keeps the decoder's function and only changes where the rounding happens (the gate measures it).
onnxruntime's profile of the first int8 decoder (Mini-shaped VQGAN, 4 images of 256 px,
docs/benchmarks.md "The VQ decoder's remaining cost") showed 37% of the time in QLinearConv and
most of the rest in the float code between convs:

- `shapes`: torch's GroupNorm export reads the shape of its input through four Shape nodes. After
  the QDQ rewrite that input is a DequantizeLinear output, and onnxruntime gives every consumer of
  a DequantizeLinear its own copy (EnsureUniqueDQForNodeUnit), so each Shape cost a whole
  dequantization of the tensor (9 ms at 128 x 256 x 256 x 4 images). The Shape nodes read the
  quantized tensor instead: same shape, nothing dequantized.
- `groupnorm`: the exported GroupNorm, Reshape [N, G, -1] -> ReduceMean -> Sub -> Pow 2 ->
  ReduceMean -> Add eps -> Sqrt -> Div (seven passes over the tensor, and a second
  dequantization for the second reader), becomes one InstanceNormalization over [N, G, L] (scale
  1, bias 0, the same eps), which is that computation.
- `affine`: the per-channel Mul gamma -> Add beta after it becomes one BatchNormalization (mean 0,
  variance 1, epsilon 0: y = gamma x + beta), one pass over the tensor instead of two.
- `subpixel` (scripts/perf/subpixel_rewrite.py): each nearest 2x upsampling + 3x3 conv becomes four
  2x2 convs on the small map + DepthToSpace, the same function with 16/36 of the multiply-adds; it
  runs on the float graph before calibration (conv_int8.py), and here its Concat and DepthToSpace
  move onto the uint8 tensors.
- `resize`: a nearest-neighbour upsampling feeding a quantized conv runs on the uint8 tensor
  (QuantizeLinear moved before the Resize): nearest sampling commutes with quantization, so the
  values are the same, with a quarter of the bytes moved and a quarter of the quantization work.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper
from subpixel_rewrite import concat_quantized, constant_value, upsample_convs

PASSES = ("shapes", "groupnorm", "affine", "resize", "subpixel")


def producers_consumers(model) -> tuple[dict, dict]:
    """Each tensor's producing node, and the nodes reading it (in graph order)."""
    made, read = {}, {}
    for node in model.graph.node:
        for name in node.output:
            made[name] = node
        for name in node.input:
            read.setdefault(name, []).append(node)
    return made, read


def shapes_from_quantized(model) -> int:
    """Shape nodes over a DequantizeLinear output read its quantized input instead. Returns how many."""
    made, _ = producers_consumers(model)
    count = 0
    for node in model.graph.node:
        source = made.get(node.input[0]) if node.op_type == "Shape" else None
        if source is not None and source.op_type == "DequantizeLinear":
            node.input[0] = source.input[0]
            count += 1
    return count


def axes_of(model, made: dict, node) -> list | None:
    """A ReduceMean's axes (attribute before opset 18, input from 18 on)."""
    for attr in node.attribute:
        if attr.name == "axes":
            return list(attr.ints)
    if len(node.input) > 1:
        value = constant_value(model, made, node.input[1])
        return None if value is None else [int(v) for v in np.atleast_1d(value)]
    return None


def match_group_norm(model, made: dict, read: dict, div) -> tuple | None:
    """(reshaped input, eps, the nodes that go, groups) when `div` ends the exported GroupNorm, else None."""
    sub, sqrt = made.get(div.input[0]), made.get(div.input[1])
    if sub is None or sqrt is None or sub.op_type != "Sub" or sqrt.op_type != "Sqrt":
        return None
    add = made.get(sqrt.input[0])
    mean = made.get(sub.input[1])
    if add is None or mean is None or add.op_type != "Add" or mean.op_type != "ReduceMean" or mean.input[0] != sub.input[0]:
        return None
    variance = made.get(add.input[0])
    eps = constant_value(model, made, add.input[1])
    if variance is None or variance.op_type != "ReduceMean" or eps is None or eps.size != 1:
        return None
    power = made.get(variance.input[0])
    if power is None or power.op_type != "Pow" or power.input[0] != sub.output[0]:
        return None
    exponent = constant_value(model, made, power.input[1])
    if exponent is None or float(exponent) != 2.0 or axes_of(model, made, mean) != [-1] or axes_of(model, made, variance) != [-1]:
        return None
    private = {sub.output[0]: {power.name, div.name}, power.output[0]: {variance.name}, variance.output[0]: {add.name},
               add.output[0]: {sqrt.name}, sqrt.output[0]: {div.name}, mean.output[0]: {sub.name}}
    if any({n.name for n in read.get(t, [])} != users for t, users in private.items()):
        return None  # an intermediate read elsewhere: leave this one alone
    reshape = made.get(sub.input[0])
    groups = group_count(model, made, reshape)
    if groups is None:
        return None
    return sub.input[0], float(eps), [mean, sub, power, variance, add, sqrt, div], groups


def group_count(model, made: dict, reshape) -> int | None:
    """G of the Reshape [N, G, -1] that starts the exported GroupNorm (a constant, or a Concat whose second part is one)."""
    if reshape is None or reshape.op_type != "Reshape":
        return None
    shape = constant_value(model, made, reshape.input[1])
    if shape is not None:
        return int(shape[1]) if shape.size == 3 and shape[1] > 0 else None
    concat = made.get(reshape.input[1])
    if concat is None or concat.op_type != "Concat" or len(concat.input) != 3:
        return None
    part = constant_value(model, made, concat.input[1])
    return int(np.atleast_1d(part)[0]) if part is not None and np.atleast_1d(part).size == 1 and np.atleast_1d(part)[0] > 0 else None


def fuse_group_norms(model) -> int:
    """Every exported GroupNorm core (see the module doc) -> one InstanceNormalization. Returns how many."""
    made, read = producers_consumers(model)
    gone, replacement, added, count = set(), {}, [], 0
    for node in list(model.graph.node):
        if node.op_type != "Div" or node.name in gone:
            continue
        found = match_group_norm(model, made, read, node)
        if found is None:
            continue
        x, eps, nodes, groups = found
        stem = f"{node.name or node.output[0]}_instnorm"
        added.extend([numpy_helper.from_array(np.ones(groups, np.float32), f"{stem}.scale"), numpy_helper.from_array(np.zeros(groups, np.float32), f"{stem}.bias")])
        replacement[node.name] = helper.make_node("InstanceNormalization", [x, f"{stem}.scale", f"{stem}.bias"], [node.output[0]], name=stem, epsilon=eps)
        gone.update(n.name for n in nodes if n is not node)
        count += 1
    kept = [replacement.get(n.name, n) for n in model.graph.node if n.name not in gone]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.graph.initializer.extend(added)
    return count


def fuse_affines(model) -> int:
    """Mul by a constant [C, 1, 1] then Add of a constant of the same shape (the only reader) ->
    BatchNormalization(scale gamma, bias beta, mean 0, variance 1, epsilon 0). Returns how many."""
    made, read = producers_consumers(model)
    swap, gone, added = {}, set(), []
    for node in model.graph.node:
        users = read.get(node.output[0], []) if node.op_type == "Mul" else []
        gamma = constant_value(model, made, node.input[1]) if users else None
        if gamma is None or gamma.ndim != 3 or gamma.shape[1:] != (1, 1) or len(users) != 1 or users[0].op_type != "Add":
            continue
        add = users[0]
        beta = constant_value(model, made, add.input[1]) if add.input[0] == node.output[0] else None
        if beta is None or beta.shape != gamma.shape:
            continue
        channels, stem = gamma.shape[0], f"{node.name or node.output[0]}_affine"
        added.extend(numpy_helper.from_array(v.reshape(channels).astype(np.float32), f"{stem}.{k}")
                     for k, v in (("scale", gamma), ("bias", beta), ("mean", np.zeros(channels)), ("var", np.ones(channels))))
        swap[node.name] = helper.make_node("BatchNormalization", [node.input[0], *(f"{stem}.{k}" for k in ("scale", "bias", "mean", "var"))],
                                           [add.output[0]], name=stem, epsilon=0.0)
        gone.add(add.name)
    kept = [swap.get(n.name, n) for n in model.graph.node if n.name not in gone]
    del model.graph.node[:]
    model.graph.node.extend(kept)
    model.graph.initializer.extend(added)
    return len(swap)


def drop_unused(model) -> None:
    """Constant nodes and initializers nothing reads any more (the passes' leftovers: eps, exponents, gammas)."""
    while True:
        _, read = producers_consumers(model)
        outputs = {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type == "Constant" and n.output[0] not in read and n.output[0] not in outputs]
        if not dead:
            break
        names = {n.name for n in dead}
        kept = [n for n in model.graph.node if n.name not in names]
        del model.graph.node[:]
        model.graph.node.extend(kept)
    _, read = producers_consumers(model)
    kept = [i for i in model.graph.initializer if i.name in read]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def nearest(node) -> bool:
    """Resize picks input elements (mode nearest, ONNX's default), so it commutes with a per-tensor quantization."""
    return next((a.s for a in node.attribute if a.name == "mode"), b"nearest") == b"nearest"


def resize_quantized(model) -> int:
    """Resize(nearest) whose only reader is a QuantizeLinear: the QuantizeLinear moves before it,
    so the Resize runs on uint8. Returns how many."""
    made, read = producers_consumers(model)
    swaps = {}
    for node in model.graph.node:
        users = read.get(node.output[0], []) if node.op_type == "Resize" and nearest(node) else []
        if len(users) == 1 and users[0].op_type == "QuantizeLinear" and node.output[0] not in {o.name for o in model.graph.output}:
            swaps[node.name] = users[0]
    if not swaps:
        return 0
    quantizers = {q.name: r for r, q in swaps.items()}
    nodes = []
    for node in model.graph.node:
        if node.name in quantizers:
            continue  # emitted before its Resize
        if node.name in swaps:
            q = swaps[node.name]
            moved = helper.make_node("QuantizeLinear", [node.input[0], *q.input[1:]], [f"{q.output[0]}.before_resize"], name=f"{q.name}/before_resize")
            moved.attribute.extend(q.attribute)
            resize = helper.make_node("Resize", [moved.output[0], *node.input[1:]], [q.output[0]], name=node.name)
            resize.attribute.extend(node.attribute)
            nodes.extend([moved, resize])
            continue
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return len(swaps)


def apply_passes(model, passes: tuple = PASSES) -> dict:
    """The named passes after the QDQ rewrite (subpixel's Concat first, so the Shape nodes that read its
    new DequantizeLinear are moved too); returns how many sites each changed."""
    unknown = [p for p in passes if p not in PASSES]
    if unknown:
        raise SystemExit(f"unknown pass(es) {unknown}: allowed {list(PASSES)}")
    done = {}
    for name, run in (("subpixelConcat", concat_quantized), ("shapes", shapes_from_quantized), ("groupnorm", fuse_group_norms), ("affine", fuse_affines),
                      ("resize", resize_quantized)):
        if name in passes or (name == "subpixelConcat" and "subpixel" in passes):
            done[name] = run(model)
    if passes:
        drop_unused(model)
        onnx.checker.check_model(model)
    return done


def main() -> None:
    """python3 scripts/perf/vq_rewrite.py IN.onnx OUT.onnx [--passes groupnorm,affine]: the passes alone, on any graph (a float decoder too)."""
    import argparse
    import os
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from quantize_int8 import write_graph
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("target")
    ap.add_argument("--passes", default=",".join(PASSES))
    args = ap.parse_args()
    model = onnx.load(args.source)
    passes = tuple(p for p in args.passes.split(",") if p and p != "none")
    groups = upsample_convs(model) if "subpixel" in passes else []
    done = {**apply_passes(model, passes), **({"subpixel": len(groups)} if "subpixel" in passes else {})}
    write_graph(model, args.source, args.target)
    print(done)


if __name__ == "__main__":
    main()
