"""Let an encoder-decoder package's step graphs read cross-attention keys/values once per
prefix instead of once per row (manifest encoderDecoder.cross = "prefixes").

  /usr/bin/python3 scripts/convert/cross_prefixes.py --package DIR

Why: a request's rows share their text. With guidance, DALL·E Mini's 2N rows are N rows
of the prompt and N of the empty text, yet the step graph min_dalle.py exports takes
cross keys/values per row ([R, H, D, T] per layer) and multiplies each row's single query
against its own copy: at 64 rows a Mini step reads 402 MB of identical cross keys/values,
one matrix-vector product per row and head. Rewritten, the graph takes them per prefix
([P, H, D, T]) with the rows in P equal contiguous groups (row r belongs to prefix
r // (R / P)) and runs one matrix product per prefix and head, the group's queries as its
rows: [P, H, G, D] x [P, H, D, T]. With P = R (one "prefix" per row) it computes exactly
what the original graph did, so Tessera falls back to per-row feeds whenever a batch's
rows do not form equal groups (src/generator/encoder-decoder/cross-feeds.ts).

What changes, per layer: the query of the cross-attention product is reshaped
[R, H, 1, D] -> [P, G, H, D] -> [P, H, G, D] (P read from the cross keys' first axis), the
product of the probabilities with the values is turned back [P, H, G, D] -> [P, G, H, D]
-> [R, H, 1, D] before its old consumers. The text-mask bias ([P, 1, 1, T] once text_mask
is [P, T]) and the softmax broadcast unchanged. Only the .onnx files are rewritten; external
weight files are not touched. Every step graph of the package is rewritten: its own and
each precision variant's. Running it twice is a no-op.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from typing import Callable, Dict, List

import onnx
from onnx import helper, numpy_helper
import numpy as np


class RewriteError(Exception):
    pass


def _dims(value: onnx.ValueInfoProto) -> List[object]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def rewrite_graph(model: onnx.ModelProto) -> int:
    """Rewrites `model` in place; returns the number of layers rewritten."""
    g = model.graph
    inputs = {i.name: i for i in g.input}
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    layers = sorted(int(name.rsplit("_", 1)[1]) for name in inputs if name.startswith("cross_key_"))
    if not layers:
        raise RewriteError("the graph has no cross_key_* inputs: not an encoder-decoder step graph")
    added: List[onnx.NodeProto] = []
    initializers: List[onnx.TensorProto] = []

    def const(name: str, values: List[int]) -> str:
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    axis0 = const("cross_prefixes/axis0", [0])
    one = const("cross_prefixes/one", [1])
    for l in layers:
        key, value = f"cross_key_{l}", f"cross_value_{l}"
        heads, head_dim = _dims(inputs[key])[1], _dims(inputs[key])[2]
        if not isinstance(heads, int) or not isinstance(head_dim, int) or heads == 0 or head_dim == 0:
            raise RewriteError(f"{key} must have fixed heads and head size, has {_dims(inputs[key])}")
        scores = [n for n in consumers.get(key, []) if n.op_type == "MatMul" and n.input[1] == key]
        context = [n for n in consumers.get(value, []) if n.op_type == "MatMul" and n.input[1] == value]
        if len(scores) != 1 or len(consumers[key]) != 1 or len(context) != 1 or len(consumers[value]) != 1:
            raise RewriteError(f"layer {l}: expected one MatMul(q, {key}) and one MatMul(p, {value}), the graph has another shape")
        p = f"cross_prefixes/{l}"
        query = scores[0].input[0]  # [R, H, 1, D]
        # [P, -1, H, D] with P from the keys: Shape(key)[0:1]
        added += [
            helper.make_node("Shape", [key], [f"{p}/key_shape"]),
            helper.make_node("Slice", [f"{p}/key_shape", axis0, one], [f"{p}/prefixes"]),
            helper.make_node("Concat", [f"{p}/prefixes", const(f"{p}/rest", [-1, heads, head_dim])], [f"{p}/grouped_shape"], axis=0),
            helper.make_node("Reshape", [query, f"{p}/grouped_shape"], [f"{p}/query_pghd"]),  # [P, G, H, D]
            helper.make_node("Transpose", [f"{p}/query_pghd"], [f"{p}/query"], perm=[0, 2, 1, 3]),  # [P, H, G, D]
        ]
        scores[0].input[0] = f"{p}/query"  # the product is now [P, H, G, T]
        old = context[0].output[0]
        context[0].output[0] = f"{p}/context_phgd"  # [P, H, G, D]
        added += [
            helper.make_node("Transpose", [f"{p}/context_phgd"], [f"{p}/context_pghd"], perm=[0, 2, 1, 3]),  # [P, G, H, D]
            helper.make_node("Shape", [query], [f"{p}/query_shape"]),
            helper.make_node("Reshape", [f"{p}/context_pghd", f"{p}/query_shape"], [old]),  # [R, H, 1, D], what the consumers read
        ]
    g.initializer.extend(initializers)
    # Cross keys/values and the text mask now come per prefix.
    for name in [*(f"cross_key_{l}" for l in layers), *(f"cross_value_{l}" for l in layers), "text_mask"]:
        if name not in inputs:
            raise RewriteError(f"the graph has no input {name}")
        dim = inputs[name].type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "prefixes"
    # Topological order (ONNX asks for it): every added node after the nodes making its inputs.
    nodes = _sorted(g, [*g.node, *added])
    g.ClearField("node")
    g.node.extend(nodes)
    return len(layers)


def _sorted(g: onnx.GraphProto, nodes: List[onnx.NodeProto]) -> List[onnx.NodeProto]:
    known = {i.name for i in g.input} | {t.name for t in g.initializer} | {""}
    pending = list(nodes)
    ordered: List[onnx.NodeProto] = []
    while pending:
        rest = []
        for n in pending:
            if all(i in known for i in n.input):
                ordered.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            raise RewriteError(f"cannot order the rewritten graph: {rest[0].op_type} {list(rest[0].input)}")
        pending = rest
    return ordered


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_replacing(model: onnx.ModelProto, target: str) -> None:
    """Writes `model` to a new file and renames it over `target`. Writing through the old file
    would change every hard link to it (a test's linked copy of a package, a pulled package
    whose files link into a download cache) and leave a torn file if interrupted."""
    temporary = f"{target}.{os.getpid()}.tmp"
    onnx.save(model, temporary)
    os.replace(temporary, target)


def write_manifest_replacing(manifest: dict, target: str) -> None:
    """The manifest, by the same rename (save_replacing)."""
    temporary = f"{target}.{os.getpid()}.tmp"
    with open(temporary, "w", encoding="utf8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    os.replace(temporary, target)


def rewrite_package(package: str) -> List[str]:
    """Rewrites every step graph of the package at `package`; returns the graphs rewritten."""
    path = os.path.join(package, "manifest.json")
    with open(path, encoding="utf8") as f:
        manifest = json.load(f)
    config = manifest.get("encoderDecoder")
    if manifest.get("architecture") != "encoder-decoder" or config is None:
        raise RewriteError(f"{package} is not an encoder-decoder package")
    if config.get("cross", "rows") == "prefixes":
        return []
    steps = [manifest["generator"]["step"]] + [v["generator"]["step"] for v in manifest.get("variants", {}).values()]
    models = {}
    for rel in steps:  # rewrite all in memory first: nothing is written unless every graph can be rewritten
        model = onnx.load(os.path.join(package, rel), load_external_data=False)
        rewrite_graph(model)
        models[rel] = model
    for rel, model in models.items():
        save_replacing(model, os.path.join(package, rel))  # external data references kept as they are
        manifest["files"][rel] = sha256(os.path.join(package, rel))
    config["cross"] = "prefixes"
    write_manifest_replacing(manifest, path)
    return steps


def package_main(name: str, doc: str, rewrite: Callable[[str], List[str]]) -> int:
    """The command line of a package rewrite (this one, text_prefixes.py): --package DIR;
    prints {"rewritten": [...]}; a package it cannot take exits 2, naming why."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--package", required=True)
    args = ap.parse_args()
    try:
        done = rewrite(args.package)
    except RewriteError as e:
        print(f"{name}: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"rewritten": done}))
    return 0


def main() -> int:
    return package_main("cross_prefixes", __doc__, rewrite_package)


if __name__ == "__main__":
    sys.exit(main())
