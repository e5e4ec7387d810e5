"""Nearest 2x upsampling + 3x3 conv -> four 2x2 convs on the small map + DepthToSpace (issue 27).

The VQGAN decoder upsamples with F.interpolate(scale 2, nearest) and a 3x3 conv (pad 1) on the
doubled map. Every output pixel of that conv at (2i + a, 2j + b) reads the small map at offsets
{-1, 0} (a = 0) or {0, +1} (a = 1) in each direction, with the 3x3 taps summed where two of
them fall on the same small-map pixel: rows (w0, w1 + w2) for a = 0, (w0 + w1, w2) for a = 1,
and likewise for columns. So the pair is exactly four 2x2 convs over the small map (one per
parity (a, b), padded on the side its offsets reach), their outputs concatenated and
interleaved by DepthToSpace (DCR): 16 multiply-adds per output pixel and channel pair instead
of 36, and no upsampled tensor. (The same identity as "sub-pixel convolution", Shi et al. 2016,
read backwards.) It applies to the float decoder (`upsample_convs`, before calibration, so the
new convs are calibrated like the others); after the QDQ rewrite `concat_quantized` moves the
Concat and DepthToSpace onto the uint8 tensors (the four outputs share one calibrated range).
"""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

# The 2 taps on the small map for output parity a, as sums of the 3 taps of the conv on the doubled map.
TAPS = (np.array([[1, 0, 0], [0, 1, 1]], np.float64), np.array([[1, 1, 0], [0, 0, 1]], np.float64))


def _attrs(node) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def constant_value(model, made: dict, name: str):
    """The value of an initializer or Constant node output, else None."""
    for init in model.graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    node = made.get(name)
    if node is not None and node.op_type == "Constant":
        for attr in node.attribute:
            if attr.name == "value":
                return numpy_helper.to_array(attr.t)
            if attr.name == "value_float":
                return np.array(attr.f, np.float32)
            if attr.name == "value_int":
                return np.array(attr.i, np.int64)
            if attr.name == "value_ints":
                return np.array(list(attr.ints), np.int64)
    return None


def _is_pair(model, made: dict, read: dict, inits: dict, resize, conv) -> bool:
    a, c = _attrs(resize), _attrs(conv)
    if a.get("mode", b"nearest") != b"nearest" or a.get("coordinate_transformation_mode", b"half_pixel") != b"asymmetric" or a.get("nearest_mode", b"round_prefer_floor") != b"floor":
        return False
    scales = constant_value(model, made, resize.input[2]) if len(resize.input) > 2 and resize.input[2] else None
    if scales is None or [float(s) for s in scales] != [1.0, 1.0, 2.0, 2.0] or (len(resize.input) > 3 and resize.input[3]):
        return False
    w = inits.get(conv.input[1])
    return (w is not None and list(w.dims[2:]) == [3, 3] and list(c.get("pads", [0] * 4)) == [1, 1, 1, 1] and c.get("group", 1) == 1
            and list(c.get("strides", [1, 1])) == [1, 1] and list(c.get("dilations", [1, 1])) == [1, 1] and len(read.get(resize.output[0], [])) == 1)


def upsample_convs(model) -> list:
    """Every nearest-2x Resize read only by a 3x3 conv -> four 2x2 convs + Concat + DepthToSpace, in
    place. Returns the four new conv outputs of each site (they must share one quantization range)."""
    made = {o: n for n in model.graph.node for o in n.output}
    read = {}
    for n in model.graph.node:
        for i in n.input:
            read.setdefault(i, []).append(n)
    inits = {i.name: i for i in model.graph.initializer}
    groups, swap, gone, added, dropped = [], {}, set(), [], set()
    for conv in model.graph.node:
        resize = made.get(conv.input[0]) if conv.op_type == "Conv" else None
        if resize is None or resize.op_type != "Resize" or not _is_pair(model, made, read, inits, resize, conv):
            continue
        stem = f"{conv.name or conv.output[0]}_subpixel"
        w = numpy_helper.to_array(inits[conv.input[1]]).astype(np.float64)  # [O, I, 3, 3]
        nodes, outputs = [], []
        for a in (0, 1):
            for b in (0, 1):
                kernel = np.einsum("pk,oikl,ql->oipq", TAPS[a], w, TAPS[b]).astype(np.float32)  # [O, I, 2, 2]
                name = f"{stem}.w{a}{b}"
                added.append(numpy_helper.from_array(kernel, name))
                out = f"{stem}.y{a}{b}"
                inputs = [resize.input[0], name] + ([conv.input[2]] if len(conv.input) > 2 and conv.input[2] else [])
                nodes.append(helper.make_node("Conv", inputs, [out], name=f"{stem}/conv{a}{b}", kernel_shape=[2, 2], pads=[a ^ 1, b ^ 1, a, b],
                                              strides=[1, 1], dilations=[1, 1], group=1))
                outputs.append(out)
        nodes.append(helper.make_node("Concat", outputs, [f"{stem}.cat"], name=f"{stem}/concat", axis=1))
        nodes.append(helper.make_node("DepthToSpace", [f"{stem}.cat"], [conv.output[0]], name=f"{stem}/depth_to_space", blocksize=2, mode="DCR"))
        swap[conv.name] = nodes
        gone.add(resize.name)
        if len(read.get(conv.input[1], [])) == 1:
            dropped.add(conv.input[1])
        groups.append(outputs)
    kept = []
    for n in model.graph.node:
        if n.name in gone:
            continue
        kept.extend(swap.get(n.name, [n]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    inits_kept = [i for i in model.graph.initializer if i.name not in dropped]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits_kept + added)
    return groups


def concat_quantized(model) -> int:
    """A Concat of DequantizeLinear outputs with equal scale and zero point, read only by a
    DepthToSpace: both run on the uint8 tensors, one DequantizeLinear after. Returns how many."""
    made = {o: n for n in model.graph.node for o in n.output}
    read = {}
    for n in model.graph.node:
        for i in n.input:
            read.setdefault(i, []).append(n)
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    swap, gone = {}, set()
    for concat in model.graph.node:
        if concat.op_type != "Concat":
            continue
        dqs = [made.get(i) for i in concat.input]
        users = read.get(concat.output[0], [])
        if not dqs or any(d is None or d.op_type != "DequantizeLinear" or len(read.get(d.output[0], [])) != 1 for d in dqs) or len(users) != 1 or users[0].op_type != "DepthToSpace":
            continue
        params = [(values.get(d.input[1]), values.get(d.input[2])) for d in dqs]
        if any(s is None or z is None or s.shape != () or not np.array_equal(s, params[0][0]) or not np.array_equal(z, params[0][1]) for s, z in params):
            continue
        d2s = users[0]
        q_cat, q_d2s = f"{concat.output[0]}.q", f"{d2s.output[0]}.q"
        cat = helper.make_node("Concat", [d.input[0] for d in dqs], [q_cat], name=concat.name, axis=_attrs(concat)["axis"])
        moved = helper.make_node("DepthToSpace", [q_cat], [q_d2s], name=d2s.name)
        moved.attribute.extend(d2s.attribute)
        dq = helper.make_node("DequantizeLinear", [q_d2s, dqs[0].input[1], dqs[0].input[2]], [d2s.output[0]], name=f"{d2s.name}/dequantize")
        swap[concat.name] = [cat, moved, dq]
        gone.update({d.name for d in dqs} | {d2s.name})
    kept = []
    for n in model.graph.node:
        if n.name not in gone:
            kept.extend(swap.get(n.name, [n]))
    del model.graph.node[:]
    model.graph.node.extend(kept)
    return len(swap)


def union_ranges(ranges: dict, groups: list) -> None:
    """Each group's tensors get the union of their calibrated [min, max] (one quantization for the Concat)."""
    for group in groups:
        low, high = min(ranges[n][0] for n in group), max(ranges[n][1] for n in group)
        for n in group:
            ranges[n] = [low, high]

