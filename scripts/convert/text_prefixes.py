"""Let a decoder-only package's step graphs read the text prefix's keys/values once per text
instead of once per row (manifest generator.cache.text = "prefixes").

  /usr/bin/python3 scripts/convert/text_prefixes.py --package DIR

Why: every row of a request holds its text prefix's keys/values in slots 0..T-1 of its
self-attention cache, and every row with the same text (all candidates of a prompt; with
guidance, all unconditional rows) holds an identical copy. Each step reads every copy: at
mid-grid the text is about a third of the attention's bytes on the shapes model, and the
copies are a fifth of the cache's memory. Rewritten, the graph takes the text's keys/values
per prefix (text_key_l / text_value_l [P, H, T, D], text_mask [P, T]) with the rows in P
equal contiguous groups (row r belongs to prefix r // (R / P), as in cross_prefixes.py), and
the per-row cache (past_key_l / past_value_l, attention_mask) holds the image slots only.

What changes, per layer: the query [R, H, 1, D] is regrouped [P, G, H, D] -> [P, H, G, D]
and multiplied by the text keys in one product per prefix and head ([P, H, G, D] x
[P, H, D, T]), scaled as the graph scales its own new key's score, biased by the text mask
as the graph biases the cache's mask, and turned back to [R, H, 1, T]; these scores go first
in the graph's one Concat of scores, so there is still one softmax over text, image slots
and the new key. The image slots' probabilities are sliced from T on (the graph's Slice
started at 0); the text's [0, T) go through the same regrouping to one product with the text
values, added to the image slots' value product. Works on the graph as exported (Transpose
of the keys, then MatMul) and on the int8 variant's keys-first scores
(scripts/perf/attention_rewrite.py). With P = R it computes what the original graph computed
with the text in each row's slots, so Tessera feeds per row whenever the rows do not form
equal groups. Position ids are unchanged (the image position j still sits at stream position
T + j); only the cache slot moves to j. Only .onnx files are rewritten, every step graph of
the package (its own and each variant's); running it twice is a no-op; an encoder-decoder
package is refused (exit 2).
"""
from __future__ import annotations

import json
import os
import sys
from typing import Dict, List

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cross_prefixes import RewriteError, _dims, _sorted, package_main, save_replacing, sha256, write_manifest_replacing  # noqa: E402  (the same helpers)

MASK_CHAIN_OPS = {"Sub", "Mul", "Unsqueeze", "Cast", "Reshape"}


def _producers(g: onnx.GraphProto) -> Dict[str, onnx.NodeProto]:
    return {o: n for n in g.node for o in n.output}


def _mask_chain(g: onnx.GraphProto, consumers: Dict[str, List[onnx.NodeProto]]) -> List[onnx.NodeProto]:
    """The nodes turning attention_mask [R, C] into the additive bias [R, 1, 1, C] every layer adds."""
    chain: List[onnx.NodeProto] = []
    name = "attention_mask"
    while True:
        after = consumers.get(name, [])
        if len(after) != 1 or after[0].op_type not in MASK_CHAIN_OPS:
            break
        chain.append(after[0])
        name = after[0].output[0]
    if not chain:
        raise RewriteError("attention_mask does not reach the scores through Sub/Mul/Unsqueeze: the graph has another shape")
    return chain


def _text_attention(p: str, query: str, tk: str, tv: str, scale: str, bias: str, probs_all: str, shared: Dict) -> List[onnx.NodeProto]:
    """One layer's text scores ({p}/scores [R, H, 1, T]) and text context ({p}/context [R, H, 1, D]), the rows
    regrouped by text: [P, H, G, D] x [P, H, D, T]. (Tried: broadcasting [P, G, H, 1, D] x [P, 1, H, D, T], no
    transposes but one small product per row and head, measured 2-3x slower than these products plus transposes.)"""
    s = shared
    head = [
        helper.make_node("Slice", [probs_all, s["zero"], s["text_end"], s["axis3"], s["one"]], [f"{p}/probs"]),  # [R, H, 1, T]
    ]
    return head + [
        helper.make_node("Reshape", [query, s["grouped_d"]], [f"{p}/query_pghd"]),  # [P, G, H, D]
        helper.make_node("Transpose", [f"{p}/query_pghd"], [f"{p}/query"], perm=[0, 2, 1, 3]),  # [P, H, G, D]
        helper.make_node("Transpose", [tk], [f"{p}/key_t"], perm=[0, 1, 3, 2]),  # [P, H, D, T]
        helper.make_node("MatMul", [f"{p}/query", f"{p}/key_t"], [f"{p}/dots"]),  # [P, H, G, T]
        helper.make_node("Mul", [f"{p}/dots", scale], [f"{p}/scaled"]),
        helper.make_node("Add", [f"{p}/scaled", bias], [f"{p}/scores_phgt"]),  # + [P, 1, 1, T]
        helper.make_node("Transpose", [f"{p}/scores_phgt"], [f"{p}/scores_pght"], perm=[0, 2, 1, 3]),  # [P, G, H, T]
        helper.make_node("Reshape", [f"{p}/scores_pght", s["row_t"]], [f"{p}/scores"]),  # [R, H, 1, T]
        helper.make_node("Reshape", [f"{p}/probs", s["grouped_t"]], [f"{p}/probs_pght"]),  # [P, G, H, T]
        helper.make_node("Transpose", [f"{p}/probs_pght"], [f"{p}/probs_phgt"], perm=[0, 2, 1, 3]),  # [P, H, G, T]
        helper.make_node("MatMul", [f"{p}/probs_phgt", tv], [f"{p}/context_phgd"]),  # [P, H, G, D]
        helper.make_node("Transpose", [f"{p}/context_phgd"], [f"{p}/context_pghd"], perm=[0, 2, 1, 3]),  # [P, G, H, D]
        helper.make_node("Reshape", [f"{p}/context_pghd", s["row_d"]], [f"{p}/context"]),  # [R, H, 1, D]
    ]


def rewrite_graph(model: onnx.ModelProto, text_length: int) -> int:
    """Rewrites `model` in place; returns the number of layers rewritten (0: already rewritten)."""
    g = model.graph
    inputs = {i.name: i for i in g.input}
    if "text_key_0" in inputs:
        return 0
    consumers: Dict[str, List[onnx.NodeProto]] = {}
    for n in g.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    producers = _producers(g)
    layers = sorted(int(name.rsplit("_", 1)[1]) for name in inputs if name.startswith("past_key_"))
    if not layers or "attention_mask" not in inputs:
        raise RewriteError("the graph has no past_key_* inputs or no attention_mask: not a decoder-only step graph")
    T = text_length
    added: List[onnx.NodeProto] = []
    initializers: List[onnx.TensorProto] = []

    def const(name: str, values: List[int]) -> str:
        initializers.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    # The text mask's bias: the attention mask's own chain, cloned onto text_mask ([P, T] -> [P, 1, 1, T]).
    chain = _mask_chain(g, consumers)
    renamed = {"attention_mask": "text_mask"}
    for n in chain:
        clone = onnx.NodeProto()
        clone.CopyFrom(n)
        clone.name = f"text_prefixes/mask/{n.name}"
        for i, name in enumerate(clone.input):
            clone.input[i] = renamed.get(name, name)
        renamed[n.output[0]] = f"text_prefixes/mask{n.output[0]}"
        clone.output[0] = renamed[n.output[0]]
        added.append(clone)
    text_bias = renamed[chain[-1].output[0]]  # [P, 1, 1, T]

    zero, one = const("text_prefixes/zero", [0]), const("text_prefixes/one", [1])
    text_end = const("text_prefixes/text_length", [T])
    # P, read once from text_mask [P, T]; the shapes that regroup rows by text, shared by every layer.
    dims0 = _dims(inputs[f"past_key_{layers[0]}"])
    heads0, head_dim0 = dims0[1], dims0[3]
    added += [
        helper.make_node("Shape", ["text_mask"], ["text_prefixes/mask_shape"]),
        helper.make_node("Slice", ["text_prefixes/mask_shape", zero, one], ["text_prefixes/prefixes"]),
    ]
    shared = {"zero": zero, "one": one, "axis3": const("text_prefixes/axis3", [3]), "text_end": text_end, "T": T}
    for name, rest in (("grouped_d", [-1, heads0, head_dim0]), ("grouped_t", [-1, heads0, T])):
        added.append(helper.make_node("Concat", ["text_prefixes/prefixes", const(f"text_prefixes/{name}_rest", rest)], [f"text_prefixes/{name}"], axis=0))
        shared[name] = f"text_prefixes/{name}"
    shared["row_t"] = const("text_prefixes/row_t", [-1, heads0, 1, T])
    shared["row_d"] = const("text_prefixes/row_d", [-1, heads0, 1, head_dim0])
    replaced_starts: set = set()
    for l in layers:
        key, value = f"past_key_{l}", f"past_value_{l}"
        dims = _dims(inputs[key])
        heads, head_dim = dims[1], dims[3]
        if not isinstance(heads, int) or not isinstance(head_dim, int) or heads == 0 or head_dim == 0 or (heads, head_dim) != (heads0, head_dim0):
            raise RewriteError(f"{key} must be [rows, heads, slots, headDim] with fixed heads and head size (as every layer), has {dims}")
        # The query: MatMul(q, Transpose(past_key)) as exported, or keys-first MatMul(past_key, Reshape(Mul(q, scale))).
        (first,) = consumers[key]
        if first.op_type == "Transpose":
            (scores,) = consumers[first.output[0]]
            query = scores.input[0]
        elif first.op_type == "MatMul" and first.input[0] == key:
            column = producers[first.input[1]]
            query = producers[column.input[0]].input[0]
        else:
            raise RewriteError(f"layer {l}: {key} feeds {first.op_type}, expected Transpose or a keys-first MatMul")
        context = [n for n in consumers.get(value, []) if n.op_type == "MatMul" and n.input[1] == value]
        if len(context) != 1 or len(consumers[value]) != 1:
            raise RewriteError(f"layer {l}: expected one MatMul(p, {value})")
        past_slice = producers[context[0].input[0]]
        softmax = producers[past_slice.input[0]]
        concat = producers[softmax.input[0]]
        if past_slice.op_type != "Slice" or softmax.op_type != "Softmax" or concat.op_type != "Concat" or len(concat.input) != 2:
            raise RewriteError(f"layer {l}: expected Slice(Softmax(Concat(cache scores, own score))) before the value product")
        own = producers[concat.input[1]]  # Mul(ReduceSum(q * k), scale): the new key's score
        own_product = producers[producers[own.input[0]].input[0]]
        if own.op_type != "Mul" or own_product.op_type != "Mul" or query not in own_product.input:
            raise RewriteError(f"layer {l}: the new key's score is not Mul(ReduceSum(Mul(q, k)), scale)")
        scale = own.input[1]
        p = f"text_prefixes/{l}"
        added += _text_attention(p, query, f"text_key_{l}", f"text_value_{l}", scale, text_bias, softmax.output[0], shared)
        concat.input.insert(0, f"{p}/scores")
        starts = past_slice.input[1]
        start_value = _int_constant(g, producers, starts)
        if start_value != [0]:
            raise RewriteError(f"layer {l}: the cache probabilities' Slice starts at {start_value}, expected [0]")
        past_slice.input[1] = text_end
        replaced_starts.add(starts)
        old = context[0].output[0]
        context[0].output[0] = f"{p}/image_context"  # [R, H, 1, D]
        added.append(helper.make_node("Add", [f"{p}/image_context", f"{p}/context"], [old]))
    # The Slices' old start constants ([0]) now feed nothing: drop them (onnxruntime warns of each).
    used = {name for n in [*g.node, *added] for name in n.input}
    dropped = [n for n in g.node if n.op_type == "Constant" and n.output[0] in replaced_starts and n.output[0] not in used]
    for n in dropped:
        g.node.remove(n)
    g.initializer.extend(initializers)
    new_inputs = [helper.make_tensor_value_info("text_mask", onnx.TensorProto.FLOAT, ["prefixes", T])]
    for l in layers:
        heads, head_dim = _dims(inputs[f"past_key_{l}"])[1], _dims(inputs[f"past_key_{l}"])[3]
        for name in (f"text_key_{l}", f"text_value_{l}"):
            new_inputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, ["prefixes", heads, T, head_dim]))
    g.input.extend(new_inputs)
    for n in added:
        if not n.name:
            n.name = n.output[0]  # named, so onnxruntime's profiles tell the added nodes apart
    nodes = _sorted(g, [*g.node, *added])
    g.ClearField("node")
    g.node.extend(nodes)
    return len(layers)


def _int_constant(g: onnx.GraphProto, producers: Dict[str, onnx.NodeProto], name: str) -> List[int]:
    for t in g.initializer:
        if t.name == name:
            return numpy_helper.to_array(t).tolist()
    node = producers.get(name)
    if node is None or node.op_type != "Constant":
        raise RewriteError(f"{name} is not a constant")
    return numpy_helper.to_array(node.attribute[0].t).tolist()


def rewrite_package(package: str) -> List[str]:
    """Rewrites every step graph of the package at `package`; returns the graphs rewritten."""
    path = os.path.join(package, "manifest.json")
    with open(path, encoding="utf8") as f:
        manifest = json.load(f)
    if manifest.get("architecture", "decoder-only") != "decoder-only":
        raise RewriteError(f"{package} is a {manifest.get('architecture')} package, not decoder-only (for encoder-decoder: cross_prefixes.py)")
    cache = manifest["generator"].get("cache") or {"keys": "transposed", "slots": "all"}  # the manifest's default
    if cache.get("text", "rows") == "prefixes":
        return []
    if cache["keys"] != "plain":
        raise RewriteError(f"{package}: the cache's keys are {cache['keys']!r}, only a 'plain' key cache is rewritten")
    steps = [manifest["generator"]["step"]] + [v["generator"]["step"] for v in manifest.get("variants", {}).values() if "generator" in v]
    models = {}
    for rel in steps:  # all in memory first: nothing is written unless every graph can be rewritten
        model = onnx.load(os.path.join(package, rel), load_external_data=False)
        rewrite_graph(model, manifest["text"]["length"])
        models[rel] = model
    for rel, model in models.items():
        save_replacing(model, os.path.join(package, rel))
        manifest["files"][rel] = sha256(os.path.join(package, rel))
    cache["text"] = "prefixes"
    manifest["generator"]["cache"] = cache
    write_manifest_replacing(manifest, path)
    return steps


def main() -> int:
    return package_main("text_prefixes", __doc__, rewrite_package)


if __name__ == "__main__":
    sys.exit(main())
