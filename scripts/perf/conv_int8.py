"""The VQ decoder's int8 variant (issue 27, point 1: "the VQ decoder where the bench shows it pays").

  /usr/bin/python3 scripts/perf/conv_int8.py --package DIR [--codes sampled|random] [--grids 32]
      [--min-psnr 30] [--min-speedup 1.1] [--passes shapes,groupnorm,affine,resize|none]

Every Conv over a 4-D float weight becomes the QDQ form that onnxruntime fuses into QLinearConv
(checked in the optimized graph): the conv's input through QuantizeLinear -> DequantizeLinear
(uint8, asymmetric, a static range), its weight int8 symmetric per output channel behind a
DequantizeLinear (axis 0), its bias int32 at scale input scale x channel scale, and its output
through QuantizeLinear -> DequantizeLinear. Between convs everything stays float (GroupNorm,
SiLU/ReLU, upsampling, the mid attention, the final clip), then scripts/perf/vq_rewrite.py's
passes (--passes) shrink that float work: Shape nodes read the quantized tensors, the exported
GroupNorm becomes InstanceNormalization plus one BatchNormalization for its affine, nearest
upsampling runs on uint8. QLinearConv with u8 activations and
per-channel s8 weights runs on VNNI; dynamic quantization of activations is not possible for
convolutions here (ConvInteger was no faster than fp32 in the issue's measurements), hence the
static ranges, calibrated: the decoder with every conv's input and output added as outputs runs
on `--grids` code grids (scripts/perf/vq-int8.ts calibrate; `sampled` grids come from the
package's own fp32 generator, `random` ones for random-weight packages) and each range is the
min/max seen (widened to contain 0).

The gate (vq-int8.ts gate) decodes other grids (another seed) with both decoders: the variant is
declared only if the 8-bit pixels agree to --min-psnr dB, the package's CLIP ranks --rank-grids
images decoded both ways alike (Spearman >= --min-spearman; skipped without a CLIP), and it is
at least --min-speedup times faster in CPU time (paired, one thread): an int8 decoder that does
not pay is not shipped.
It goes into the package like the generator's variant: vae/decoder.int8.onnx beside the fp32
graph, hashed, and `variants.int8.decoder` with the gate's figures under
`variants.int8.fidelity.checks.decoder` (a generator variant must exist already:
quantize_int8.py --mode dynamic).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from int8_rewrite import weights_and_uses  # noqa: E402
from quantize_int8 import cpu_model, int8_name, sha256, write_graph  # noqa: E402
from subpixel_rewrite import union_ranges, upsample_convs  # noqa: E402
from vq_rewrite import PASSES, apply_passes  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def weight_convs(model, keep_float: tuple = ()) -> list:
    """The Conv nodes over a 4-D float weight, less those whose name matches a `keep_float` pattern
    (scripts/perf/clip_int8.py keeps CLIP's 3-channel stem float)."""
    inits, _ = weights_and_uses(model)
    return [n for n in model.graph.node if n.op_type == "Conv" and n.input[1] in inits and len(inits[n.input[1]].dims) == 4
            and inits[n.input[1]].data_type == onnx.TensorProto.FLOAT and not any(re.search(p, n.name or n.output[0]) for p in keep_float)]


def tensors_to_calibrate(model, keep_float: tuple = ()) -> list:
    names = []
    for node in weight_convs(model, keep_float):
        for name in (node.input[0], node.output[0]):
            if name not in names:
                names.append(name)
    return names


def with_outputs(model, names: list):
    """A copy of `model` whose graph also outputs `names` (float tensors of any shape)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    known = {o.name for o in copy.graph.output}
    copy.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names if n not in known)
    return copy


def u8_params(low: float, high: float) -> tuple:
    """Asymmetric uint8 scale and zero point for [low, high] (widened to contain 0)."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / 255.0 or 1.0
    zero = int(np.clip(np.rint(-low / scale), 0, 255))
    return np.float32(scale), np.uint8(zero)


def rewrite_convs(model, ranges: dict, keep_float: tuple = ()) -> int:
    """Every weight Conv (but those `keep_float` names) -> QDQ (see the module doc), in place. Returns how many."""
    inits, uses = weights_and_uses(model)
    convs = {n.output[0] for n in weight_convs(model, keep_float)}  # nodes by first output (protobuf wrappers have no stable id)
    nodes, added, dropped, quantized, count = [], [], set(), {}, 0

    def qdq(name: str, stem: str) -> str:
        """name -> QuantizeLinear -> DequantizeLinear, made once per tensor; returns the DQ output."""
        if name in quantized:
            return quantized[name]
        scale, zero = u8_params(*ranges[name])
        added.extend([numpy_helper.from_array(np.array(scale), f"{stem}.s"), numpy_helper.from_array(np.array(zero), f"{stem}.z")])
        nodes.append(helper.make_node("QuantizeLinear", [name, f"{stem}.s", f"{stem}.z"], [f"{stem}.q"], name=f"{stem}/quantize"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{stem}.q", f"{stem}.s", f"{stem}.z"], [f"{stem}.dq"], name=f"{stem}/dequantize"))
        quantized[name] = f"{stem}.dq"
        return quantized[name]

    for node in model.graph.node:
        if node.output[0] not in convs:
            nodes.append(node)
            continue
        stem = f"{node.name or node.output[0]}_int8"
        x = qdq(node.input[0], f"{stem}.x")
        w = numpy_helper.to_array(inits[node.input[1]]).astype(np.float64)  # [O, I, kh, kw]
        w_scale = np.abs(w).reshape(w.shape[0], -1).max(axis=1) / 127.0  # [O]
        w_scale[w_scale == 0] = 1.0
        wq = np.clip(np.rint(w / w_scale[:, None, None, None]), -127, 127).astype(np.int8)
        added.extend([numpy_helper.from_array(wq, f"{stem}.w"), numpy_helper.from_array(w_scale.astype(np.float32), f"{stem}.ws"),
                      numpy_helper.from_array(np.zeros(w.shape[0], np.int8), f"{stem}.wz")])
        nodes.append(helper.make_node("DequantizeLinear", [f"{stem}.w", f"{stem}.ws", f"{stem}.wz"], [f"{stem}.wdq"], name=f"{stem}/weight", axis=0))
        inputs = [x, f"{stem}.wdq"]
        if len(node.input) > 2 and node.input[2]:
            x_scale = float(u8_params(*ranges[node.input[0]])[0])
            b_scale = (x_scale * w_scale).astype(np.float32)  # [O]
            b = numpy_helper.to_array(inits[node.input[2]]).astype(np.float64)
            added.extend([numpy_helper.from_array(np.rint(b / b_scale).astype(np.int32), f"{stem}.b"), numpy_helper.from_array(b_scale, f"{stem}.bs"),
                          numpy_helper.from_array(np.zeros(w.shape[0], np.int32), f"{stem}.bz")])
            nodes.append(helper.make_node("DequantizeLinear", [f"{stem}.b", f"{stem}.bs", f"{stem}.bz"], [f"{stem}.bdq"], name=f"{stem}/bias", axis=0))
            inputs.append(f"{stem}.bdq")
            if uses.get(node.input[2]) == 1:
                dropped.add(node.input[2])
        if uses.get(node.input[1]) == 1:
            dropped.add(node.input[1])
        out = node.output[0]
        conv = helper.make_node("Conv", inputs, [f"{stem}.y"], name=node.name)
        conv.attribute.extend(node.attribute)
        nodes.append(conv)
        scale, zero = u8_params(*ranges[out])
        added.extend([numpy_helper.from_array(np.array(scale), f"{stem}.ys"), numpy_helper.from_array(np.array(zero), f"{stem}.yz")])
        nodes.append(helper.make_node("QuantizeLinear", [f"{stem}.y", f"{stem}.ys", f"{stem}.yz"], [f"{stem}.yq"], name=f"{stem}/quantize_out"))
        nodes.append(helper.make_node("DequantizeLinear", [f"{stem}.yq", f"{stem}.ys", f"{stem}.yz"], [out], name=f"{stem}/dequantize_out"))
        count += 1
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    kept = [i for i in model.graph.initializer if i.name not in dropped]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept + added)
    for o in model.opset_import:  # per-channel DequantizeLinear (axis): opset 13
        if o.domain in ("", "ai.onnx") and o.version < 13:
            o.version = 13
    return count


def node_tool(args: list) -> dict:
    result = subprocess.run(["node", "--import", "tsx", os.path.join(ROOT, "scripts/perf/vq-int8.ts"), *args], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"scripts/perf/vq-int8.ts {args[0]} failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().split("\n")[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--codes", default="sampled", choices=["sampled", "random"])
    ap.add_argument("--grids", type=int, default=32, help="code grids to calibrate on (the gate decodes as many others)")
    ap.add_argument("--min-psnr", type=float, default=30.0, help="least PSNR (dB) of the int8 decoder's 8-bit pixels against fp32's")
    ap.add_argument("--min-speedup", type=float, default=1.1, help="least fp32/int8 CPU-time ratio of a decode")
    ap.add_argument("--gate-rounds", type=int, default=9, help="paired timed decodes of the gate's grids (the speed figure is their median)")
    ap.add_argument("--rank-grids", type=int, default=64, help="images whose CLIP scores must rank alike decoded both ways (0: skip; needs the package's CLIP)")
    ap.add_argument("--rank-prompt", default="there is a large purple plus", help="the prompt those images are scored against")
    ap.add_argument("--min-spearman", type=float, default=0.95)
    ap.add_argument("--passes", default=",".join(PASSES), help="vq_rewrite.py passes after the QDQ rewrite, comma-separated, or none")
    args = ap.parse_args()
    root, manifest_path, manifest, variant = read_int8_manifest(args.package)
    rel = manifest["decoder"]
    source = os.path.join(root, rel)
    model = onnx.load(source)
    passes = tuple(p for p in args.passes.split(",") if p and p != "none")
    upsampling = upsample_convs(model) if "subpixel" in passes else []  # before calibration: its convs are calibrated like the others
    names = tensors_to_calibrate(model)
    scratch = os.path.join(root, ".int8-candidate")
    shutil.rmtree(scratch, ignore_errors=True)
    os.makedirs(os.path.join(scratch, os.path.dirname(rel)), exist_ok=True)
    probe = os.path.join(scratch, "calibrate.onnx")
    write_graph(with_outputs(model, names), source, probe)
    ranges = node_tool(["calibrate", "--package", root, "--graph", probe, "--names", ",".join(names), "--codes", args.codes, "--grids", str(args.grids)])
    union_ranges(ranges, upsampling)
    count = rewrite_convs(model, ranges)
    passes = {**apply_passes(model, passes), **({"subpixel": len(upsampling)} if "subpixel" in passes else {})}
    target_rel = int8_name(rel)
    written = write_graph(model, source, os.path.join(scratch, target_rel))
    gate = node_tool(["gate", "--package", root, "--graph", os.path.join(scratch, target_rel), "--codes", args.codes, "--grids", str(args.grids),
                      "--rounds", str(args.gate_rounds)])
    print(f"{rel} -> {target_rel}: {count} convs -> QDQ int8 (calibrated on {args.grids} {args.codes} grids); gate: PSNR {gate['psnr']:.2f} dB, "
          f"mean |diff| {gate['meanAbs']:.3f}, max {gate['maxAbs']} of 255; CPU ms fp32 {gate['fp32CpuMs']:.0f} / int8 {gate['int8CpuMs']:.0f} = {gate['speedup']:.2f}x; passes {passes}")
    if args.rank_grids > 0 and manifest.get("clip"):  # CLIP's ranking of the same images, decoded both ways
        gate["clipRanking"] = node_tool(["spearman", "--package", root, "--graph", os.path.join(scratch, target_rel), "--codes", args.codes,
                                         "--grids", str(args.rank_grids), "--prompt", args.rank_prompt])
        print(f"CLIP ranking of {args.rank_grids} images decoded both ways: Spearman {gate['clipRanking']['spearman']:.4f}, same top-1 {gate['clipRanking']['sameTop1']}")
    failures = []
    if gate["psnr"] < args.min_psnr:
        failures.append(f"PSNR {gate['psnr']:.2f} dB < {args.min_psnr}")
    if "clipRanking" in gate and gate["clipRanking"]["spearman"] < args.min_spearman:
        failures.append(f"CLIP ranking Spearman {gate['clipRanking']['spearman']:.4f} < {args.min_spearman}")
    if gate["speedup"] < args.min_speedup:
        failures.append(f"speed-up {gate['speedup']:.2f}x < {args.min_speedup}x (it does not pay here)")
    if failures:
        shutil.rmtree(scratch, ignore_errors=True)
        print("REFUSED: the int8 decoder is not written: " + "; ".join(failures))
        raise SystemExit(2)
    drop_stale(root, manifest, target_rel)
    for path in written:
        final = os.path.join(root, os.path.relpath(path, scratch))
        os.replace(path, final)
        manifest["files"][os.path.relpath(final, root)] = sha256(final)
    shutil.rmtree(scratch, ignore_errors=True)
    variant["decoder"] = target_rel
    variant.setdefault("fidelity", {"passed": True, "measuredAt": "", "cpu": cpu_model(), "checks": {}})
    variant["fidelity"]["checks"]["decoder"] = {"script": "scripts/perf/conv_int8.py", "codes": args.codes, "calibrationGrids": args.grids, "convs": count,
                                                "passes": passes, "minPsnr": args.min_psnr, "minSpeedup": args.min_speedup, "cpu": cpu_model(), **gate}
    write_manifest(manifest_path, manifest, "decoder")


def read_int8_manifest(package: str):
    """The package's folder, manifest path, manifest and its int8 variant (which the generator's rewrite must have written first)."""
    root = os.path.abspath(package)
    manifest_path = os.path.join(root, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    variant = manifest.get("variants", {}).get("int8")
    if variant is None:
        raise SystemExit("no variants.int8 in the manifest: write the generator's variant first (quantize_int8.py --mode dynamic)")
    return root, manifest_path, manifest, variant


def drop_stale(root: str, manifest: dict, target_rel: str) -> None:
    """Removes an earlier int8 graph at target_rel (and its .data) from the package and its manifest's file list."""
    for stale in (target_rel, target_rel + ".data"):
        manifest["files"].pop(stale, None)
        if os.path.exists(os.path.join(root, stale)):
            os.remove(os.path.join(root, stale))


def write_manifest(manifest_path: str, manifest: dict, graph: str) -> None:
    """The manifest with its files sorted, as the package tool writes it; says which int8 graph it now declares."""
    manifest["files"] = dict(sorted(manifest["files"].items()))
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote variants.int8.{graph} into {manifest_path}")


if __name__ == "__main__":
    main()
