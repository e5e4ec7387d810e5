"""CLIP's vision tower at int8 (issue 27, point 1: "CLIP ... where the bench shows it pays").

  /usr/bin/python3 scripts/perf/clip_int8.py --package DIR [--images 64] [--keep-float stem\\.0] [--head float|int8]
      [--prompts 8] [--candidates 64] [--min-cosine 0.99] [--min-spearman 0.95] [--min-top1 0.75] [--min-speedup 1.05]

The shipped CLIP's vision tower is a CNN (3x3 convs with GroupNorm and GELU between them, a 1x1
reduce, then a two-layer head). Its convs get conv_int8.py's rewrite (the VQ decoder's): QDQ
around each weight Conv, which onnxruntime fuses into QLinearConv with u8 activations at static,
calibrated ranges and s8 weights per output channel; everything between them stays float. The
stem (3 input channels: a 27-long dot product per pixel, no work for the integer units) is kept
float by default (--keep-float, regexes on node names: quantized, its QLinearConv ran slower than
the fp32 NCHWc conv here and its output's DequantizeLinear broke the GELU fusion). The GroupNorms'
Shape nodes read the batch from the graph input instead (batch_only_shapes: why there). The head's products (Gemm 2048->256,
MatMul 256->128) become int8_rewrite.py's dynamic products (com.microsoft.DynamicQuantizeMatMul)
with --head int8; by default they stay float (they are 4% of the tower's multiply-adds).
The text tower is not touched: one prompt of 16 tokens through 3 layers per request (about 2 ms
of a 32-candidate request's CLIP time here) is nothing to gain from.

Calibration (scripts/perf/clip-int8.ts calibrate): the package's own candidates, decoded (at
--precision int8 when the package has that variant: the images this graph will see), through
the CLIP processor and the vision graph with every conv's input and output added as outputs;
each range is the min/max seen (widened to contain 0).

The gate (clip-int8.ts gate, other prompts and seeds): --prompts prompts x --candidates
candidates scored by the fp32 CLIP and by the candidate vision graph: the least cosine of an
image's two embeddings, the least per-prompt Spearman of the scores, the share of prompts with
the same top-1; and the vision tower's speed (paired rounds, one process) at 32 and 128 images,
one thread's CPU time (the gated figure) and the app's threads' wall time (reported): the variant
is written only if every figure passes and it is at least --min-speedup faster at both sizes; otherwise nothing is written (REFUSED, and why). It goes into the package as
<clip>/onnx/vision_model.int8.onnx, hashed, declared as `variants.int8.clipVision` with the
gate's figures under `variants.int8.fidelity.checks.clipVision` (a generator variant must
exist already: quantize_int8.py --mode dynamic).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_int8 import rewrite_convs, tensors_to_calibrate, with_outputs, drop_stale, read_int8_manifest, write_manifest  # noqa: E402
from int8_rewrite import rewrite_dynamic  # noqa: E402
from quantize_int8 import cpu_model, int8_name, sha256, write_graph  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
VISION = "onnx/vision_model.onnx"
BATCH_PROBE = 9973  # batch_only_shapes: a prime no fixed dim of a CLIP equals


def node_tool(args: list) -> dict:
    result = subprocess.run(["node", "--import", "tsx", os.path.join(ROOT, "scripts/perf/clip-int8.ts"), *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"scripts/perf/clip-int8.ts {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    lines = result.stdout.strip().split("\n")
    for line in lines[:-1]:
        print(line)  # the machine and its load
    return json.loads(lines[-1])


def batch_only_shapes(model) -> int:
    """Every Shape node over a tensor whose dims are all fixed but the batch (the graph's input is
    [batch, 3, S, S]) -> the input's batch dim concatenated with the fixed rest, in place. Returns
    how many. Why: the GroupNorms read their input's shape (Shape -> Gather -> Reshape); once that
    input is a conv's DequantizeLinear, onnxruntime gives each of its readers a DequantizeLinear of
    its own (a full pass over the map per Shape node, measured 5 per conv), which ate the int8
    convs' gain. Shape needs no pixels: the batch comes from the graph input instead."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.input[0].type.tensor_type.shape.dim[0].dim_value = BATCH_PROBE  # a batch no other dim has: tells the batch axis apart
    inferred = onnx.shape_inference.infer_shapes(probe, data_prop=True)  # data_prop: through the GroupNorms' Shape -> Reshape chains
    dims = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input):
        shape = info.type.tensor_type.shape.dim
        dims[info.name] = [d.dim_value if d.HasField("dim_value") else None for d in shape]
    graph_input = model.graph.input[0].name
    nodes, count, batch = [], 0, "batch_only_shapes.batch"
    for node in model.graph.node:
        d = dims.get(node.input[0]) if node.op_type == "Shape" else None
        if d is None or len(d) < 2 or d[0] != BATCH_PROBE or any(v is None or v == BATCH_PROBE for v in d[1:]) or node.attribute:
            nodes.append(node)
            continue
        if count == 0:
            model.graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), f"{batch}.start"),
                                            numpy_helper.from_array(np.array([1], np.int64), f"{batch}.end")])
            nodes.append(helper.make_node("Shape", [graph_input], [f"{batch}.shape"], name=f"{batch}/shape"))
            nodes.append(helper.make_node("Slice", [f"{batch}.shape", f"{batch}.start", f"{batch}.end"], [batch], name=f"{batch}/slice"))
        rest = f"{node.output[0]}.fixed"
        model.graph.initializer.append(numpy_helper.from_array(np.array(d[1:], np.int64), rest))
        nodes.append(helper.make_node("Concat", [batch, rest], [node.output[0]], name=node.name, axis=0))
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def quantize_vision(model, ranges: dict, keep_float: tuple, head: str) -> dict:
    """The rewrite (module doc), in place: QDQ convs, and the head's products when head == 'int8'."""
    counts = {"foldedShapes": batch_only_shapes(model), "convs": rewrite_convs(model, ranges, keep_float), "keptFloat": list(keep_float)}
    if head == "int8":
        products = rewrite_dynamic(model, "fused", [], 8)
        counts["headProducts"] = products["int8"]
    return counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--images", type=int, default=64, help="decoded candidates to calibrate on")
    ap.add_argument("--keep-float", action="append", default=None, help=r"regex on conv node names kept float (default: stem\.0)")
    ap.add_argument("--head", default="float", choices=["float", "int8"], help="the head's Gemm/MatMul: float, or dynamic int8")
    ap.add_argument("--prompts", type=int, default=8, help="gate prompts (frozen eval set)")
    ap.add_argument("--candidates", type=int, default=64, help="gate candidates per prompt")
    ap.add_argument("--rounds", type=int, default=7, help="paired timed rounds of the vision tower per size")
    ap.add_argument("--sizes", default="32,128", help="image counts the vision tower is timed at")
    ap.add_argument("--min-cosine", type=float, default=0.99, help="least cosine of an image's fp32 and int8 embeddings")
    ap.add_argument("--min-spearman", type=float, default=0.95, help="least per-prompt Spearman of the two score lists")
    ap.add_argument("--min-top1", type=float, default=0.75, help="least share of prompts whose top-1 candidate is the same")
    ap.add_argument("--min-speedup", type=float, default=1.05, help="least fp32/int8 ratio of the vision tower's one-thread CPU time, at every size")
    args = ap.parse_args()
    keep_float = tuple(args.keep_float if args.keep_float is not None else [r"stem\.0"])
    root, manifest_path, manifest, variant = read_int8_manifest(args.package)
    if not manifest.get("clip"):
        raise SystemExit("the package has no CLIP (manifest.clip)")
    clip = manifest["clip"].rstrip("/")
    source_rel = f"{clip}/{VISION}"
    source = os.path.join(root, source_rel)
    model = onnx.load(source)
    names = tensors_to_calibrate(model, keep_float)
    scratch = os.path.join(root, ".int8-candidate")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(scratch, exist_ok=True)
    probe = os.path.join(scratch, "clip-calibrate.onnx")
    write_graph(with_outputs(model, names), source, probe)
    ranges = node_tool(["calibrate", "--package", root, "--graph", probe, "--names", ",".join(names), "--images", str(args.images)])
    shutil.rmtree(scratch, ignore_errors=True)
    counts = quantize_vision(model, ranges, keep_float, args.head)
    target_rel = int8_name(source_rel)
    # The candidate lies beside the fp32 graph (transformers.js reads a CLIP's graphs from its onnx/ only), unlisted until it passes.
    candidate = os.path.join(root, int8_name(source_rel)[: -len(".onnx")] + ".candidate.onnx")
    written = write_graph(model, source, candidate)
    try:
        gate = node_tool(["gate", "--package", root, "--graph", candidate, "--prompts", str(args.prompts), "--candidates", str(args.candidates),
                          "--rounds", str(args.rounds), "--sizes", args.sizes])
    except SystemExit:
        for path in written:
            os.remove(path)
        raise
    speed = ", ".join(f"{s['images']} images: one thread CPU ms fp32 {s['oneThreadFp32CpuMs']:.1f} / int8 {s['oneThreadInt8CpuMs']:.1f} = {s['speedup']:.2f}x, "
                      f"{'app threads'} wall ms {s['appFp32WallMs']:.1f} / {s['appInt8WallMs']:.1f} = {s['appSpeedup']:.2f}x" for s in gate["speed"])
    print(f"{source_rel} -> {target_rel}: {counts['convs']} convs -> QDQ int8 (kept float: {', '.join(keep_float) or 'none'}; head {args.head}); "
          f"{gate['images']} images of {gate['prompts']} prompts: embedding cosine mean {gate['cosineMean']:.5f} min {gate['cosineMin']:.5f}, "
          f"Spearman min {gate['spearmanMin']:.4f} mean {gate['spearmanMean']:.4f}, same top-1 {gate['top1Agreement']:.3f}; vision tower {speed}")
    failures = []
    if gate["cosineMin"] < args.min_cosine:
        failures.append(f"embedding cosine {gate['cosineMin']:.5f} < {args.min_cosine}")
    if gate["spearmanMin"] < args.min_spearman:
        failures.append(f"per-prompt Spearman {gate['spearmanMin']:.4f} < {args.min_spearman}")
    if gate["top1Agreement"] < args.min_top1:
        failures.append(f"same top-1 on {gate['top1Agreement']:.3f} of prompts < {args.min_top1}")
    for s in gate["speed"]:
        if s["speedup"] < args.min_speedup:
            failures.append(f"speed-up at {s['images']} images {s['speedup']:.2f}x < {args.min_speedup}x (it does not pay here)")
    if failures:
        for path in written:
            os.remove(path)
        print("REFUSED: the int8 CLIP vision graph is not written: " + "; ".join(failures))
        raise SystemExit(2)
    drop_stale(root, manifest, target_rel)
    for path in written:
        final = os.path.join(root, target_rel + path[len(candidate):])  # the graph, and its .data when it has one
        os.replace(path, final)
        manifest["files"][os.path.relpath(final, root)] = sha256(final)
    variant["clipVision"] = target_rel
    variant.setdefault("fidelity", {"passed": True, "measuredAt": "", "cpu": cpu_model(), "checks": {}})
    variant["fidelity"]["checks"]["clipVision"] = {
        "script": "scripts/perf/clip_int8.py", "calibrationImages": args.images, **counts, "head": args.head,
        "minCosine": args.min_cosine, "minSpearman": args.min_spearman, "minTop1": args.min_top1, "minSpeedup": args.min_speedup,
        "cpu": cpu_model(), **{k: v for k, v in gate.items() if k not in ("perPrompt", "cpuFlags")},
    }
    write_manifest(manifest_path, manifest, "clipVision")


if __name__ == "__main__":
    main()
