"""int8 variants of a Tessera package, by the repo's own graph rewriting (issues 12 and 27).

Two modes; python3-onnx and numpy only (no onnxruntime quantizer can be installed here).

--mode dynamic (issue 27; what runs on the CPU's integer matrix units: VNNI, AMX):

  /usr/bin/python3 scripts/perf/quantize_int8.py --mode dynamic --package models/default \
      [--graphs generator] [--kernel fused|split] [--keep-float head] [--weight-bits 8] [--attention keys-first] \
      [--min-top1 0.85] [--min-cosine 0.995] [--gate-rows 32] [--gate-steps 0]

  writes the variant INTO the package (docs/model-package.md, "variants"): each graph G.onnx
  of the generator gets G.int8.onnx beside it, and manifest.json gets `variants.int8` with the
  files' hashes and the fidelity gate's result. Every weight product (a MatMul whose second
  operand is a 2-D float initializer; a Gemm as torch exports nn.Linear, Y = A·B^T + C; seen
  through torch's Identity aliases) becomes dynamic int8: activations quantized per tensor
  to uint8 at run time, weights int8 symmetric per output channel (zero point 0), int32
  accumulation, then the float scale (activation scale x channel scale) and the bias:
    fused: com.microsoft.DynamicQuantizeMatMul(A, W_s8, scale[N], -, bias)
    split: DynamicQuantizeLinear -> MatMulInteger(u8, s8) -> Cast -> Mul(scale) -> Add(bias)  (default:
           onnxruntime fuses it to MatMulIntegerToFloat; 1.28-1.33x fp32 CPU time against fused 1.20x here)
  Attention's own products (activation x activation), LayerNorm, softmax and every other op
  stay float (the step graph's score product over the cached keys is computed keys-first,
  attention_rewrite.py; --attention as-exported leaves it as exported), and so does any product whose node name matches --keep-float (regexes,
  comma-separated; default: the logits head). Before the variant is declared, the fidelity gate
  (scripts/perf/int8-gate.ts, onnxruntime-node) runs the fp32 and int8 generators on the same
  prefixes and the same fed tokens and compares their logits at the prefill and every step:
  top-token agreement and cosine. A variant below --min-top1 / --min-cosine is not written
  (candidates live in <package>/.int8-candidate until they pass; an earlier variant stays) and
  the reason is printed; the exit status is 2. --torch-check (decoder-only) also compares the
  prefill with PyTorch doing the same integer arithmetic (int8_torch_reference.py), recorded.

--mode nbits (issue 12; weight-only, smaller, not faster from ~16 rows on):

  /usr/bin/python3 scripts/perf/quantize_int8.py --package models/default --out models/default-int8 \
      [--accuracy-level 4] [--graphs generator,clip] [--block-size 32]

Every MatMul whose second operand is a 2-D float weight [K, N] (K padded to whole blocks),
and every Gemm over such a weight (transposed or not, with its bias; the step graphs
export nn.Linear on 2-D rows as Gemm), becomes onnxruntime's com.microsoft.MatMulNBits
with bits=8: the weight is stored as uint8 in blocks of 32 (--block-size) along K with one
float scale per block (symmetric, zero point 128, the op's default), activations stay float32. accuracy_level 4 lets onnxruntime quantize the
activations to int8 on the fly and use its int8 kernels; 0 dequantizes to float32.
The variant is a whole package (a copy with the rewritten graphs, new file hashes and
"-int8" in its name), so it is selected like any package: --model DIR.

The graph rewrites of both modes are in int8_rewrite.py; this file is the package side
(which graphs, where they are written, hashes, the manifest, the fidelity gate).
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import sys

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attention_rewrite import keys_first_scores  # noqa: E402
from int8_rewrite import rewrite, rewrite_dynamic  # noqa: E402

BLOCK = 32  # the default --block-size


def int8_name(rel: str) -> str:
    """generator/step.onnx -> generator/step.int8.onnx"""
    return rel[: -len(".onnx")] + ".int8.onnx" if rel.endswith(".onnx") else rel + ".int8"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_graph(model, source: str, target: str) -> list:
    """Saves `model` at `target`; with external data (<target>.data) when `source` had it, so a
    Mini-sized graph stays loadable. Returns the files written (absolute)."""
    external = any(i.data_location == onnx.TensorProto.EXTERNAL for i in onnx.load(source, load_external_data=False).graph.initializer)
    data = target + ".data"
    for path in (target, data):
        if os.path.exists(path):
            os.remove(path)
    if external:
        onnx.save(model, target, save_as_external_data=True, all_tensors_to_one_file=True, location=os.path.basename(data), size_threshold=1024)
        return [p for p in (target, data) if os.path.exists(p)]  # no .data when every tensor is under the threshold
    onnx.save(model, target)
    return [target]


def cpu_model() -> str:
    """The CPU the gate ran on, as /proc/cpuinfo names it, with the flags that pick the int8 kernels."""
    fields = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if ":" in line:
                    key, value = (part.strip() for part in line.split(":", 1))
                    fields.setdefault(key, value)
                if not line.strip() and fields:
                    break
    except OSError:
        return "unknown cpu"
    flags = set(fields.get("flags", "").split())
    units = [f for f in ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16") if f in flags] or ["no VNNI/AMX"]
    return (f"{fields.get('model name', 'unknown cpu')} ({fields.get('vendor_id', '?')} family {fields.get('cpu family', '?')} "
            f"model {fields.get('model', '?')}; {' '.join(units)})")


def run_gate(package: str, files: dict, args) -> dict:
    """scripts/perf/int8-gate.ts in onnxruntime-node: the fp32 against the int8 generator."""
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    cmd = ["node", "--import", "tsx", os.path.join(root, "scripts/perf/int8-gate.ts"), "--package", os.path.abspath(package),
           "--prefill", files["prefill"], "--step", files["step"], "--rows", str(args.gate_rows), "--steps", str(args.gate_steps),
           "--prefixes", str(args.gate_prefixes), "--seed", "27"]
    if args.torch_check:  # decoder-only: the prefill also against PyTorch (int8_torch_reference.py), recorded, not gated
        cmd.append("--torch")
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env={**os.environ, "TESSERA_THREADS": os.environ.get("TESSERA_THREADS", "2")})
    if result.returncode != 0:
        raise SystemExit(f"fidelity gate did not run ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().split("\n")[-1])


def gate_failures(gate: dict, min_top1: float, min_cosine: float) -> list:
    """The thresholds run_gate's result misses, each as a sentence naming the figure (none: it passes)."""
    failures = []
    if gate["stepTop1"] < min_top1:
        failures.append(f"step top-token agreement {gate['stepTop1']:.4f} < {min_top1}")
    if gate["prefillTop1"] < min_top1:
        failures.append(f"prefill top-token agreement {gate['prefillTop1']:.4f} < {min_top1}")
    if gate["stepCosineMean"] < min_cosine:
        failures.append(f"step logit cosine (mean) {gate['stepCosineMean']:.5f} < {min_cosine}")
    return failures


def dynamic_variant(args) -> None:
    manifest_path = os.path.join(args.package, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    keep = [p for p in args.keep_float.split(",") if p]
    generator = manifest["generator"]
    # Candidates are written in a scratch folder inside the package (the gate loads them beside the
    # fp32 graphs) and moved into place only when they pass: a refused rewrite leaves any earlier
    # variant as it was.
    scratch_rel = ".int8-candidate"
    scratch = os.path.join(args.package, scratch_rel)
    shutil.rmtree(scratch, ignore_errors=True)
    written, variant_files, candidate_files, report = [], {}, {}, {}
    for role in ("prefill", "step"):
        rel = generator[role]
        model = onnx.load(os.path.join(args.package, rel))
        counts = rewrite_dynamic(model, args.kernel, keep, args.weight_bits)
        if role == "step" and args.attention == "keys-first":  # attention_rewrite.py: the score product without FusedMatMul's alpha
            counts["keysFirstScores"] = keys_first_scores(model)
        target_rel = int8_name(rel)
        os.makedirs(os.path.dirname(os.path.join(scratch, target_rel)), exist_ok=True)
        written += write_graph(model, os.path.join(args.package, rel), os.path.join(scratch, target_rel))
        variant_files[role] = target_rel
        candidate_files[role] = os.path.join(scratch_rel, target_rel)
        report[role] = {k: v for k, v in counts.items()}
        print(f"{rel} -> {target_rel}: {counts['int8']} weight products -> int8 ({args.kernel}), {counts['keptFloat']} kept float {counts['kept']}, "
              f"{counts['activationProducts']} activation x activation products float")
    gate = run_gate(args.package, candidate_files, args)
    failures = gate_failures(gate, args.min_top1, args.min_cosine)
    passed = not failures
    summary = (f"gate: prefill top-1 {gate['prefillTop1']:.4f}, cosine {gate['prefillCosineMean']:.5f}; "
               f"steps top-1 {gate['stepTop1']:.4f} (first {gate['firstStepTop1']:.4f}, last {gate['lastStepTop1']:.4f}), "
               f"cosine mean {gate['stepCosineMean']:.5f} min {gate['stepCosineMin']:.5f} ({gate['rows']} rows x {gate['steps']} steps)")
    print(summary)
    if "torch" in gate:
        t = gate["torch"]
        print(f"against PyTorch (prefill logits): fp32 graph vs float model max rel diff {t['fp32VsTorchFp32']['maxRelativeDifference']:.2e}; "
              f"int8 graph vs the same integer arithmetic in PyTorch: top-1 {t['int8VsTorchInt8']['top1']:.3f}, cosine min {t['int8VsTorchInt8']['cosineMin']:.6f}, "
              f"max rel diff {t['int8VsTorchInt8']['maxRelativeDifference']:.2e}")
    if not passed:
        shutil.rmtree(scratch, ignore_errors=True)
        print("REFUSED: the int8 variant fails its fidelity gate, not written: " + "; ".join(failures))
        raise SystemExit(2)
    root = os.path.abspath(args.package)
    old_variant = manifest.get("variants", {}).get("int8", {}).get("generator", {})
    for rel in [*old_variant.values(), *variant_files.values()]:  # the previous variant's files (and their external data)
        for stale in (rel, rel + ".data"):
            manifest["files"].pop(stale, None)
            if os.path.exists(os.path.join(root, stale)):
                os.remove(os.path.join(root, stale))
    for path in written:
        final = os.path.join(root, os.path.relpath(path, os.path.abspath(scratch)))
        os.replace(path, final)
        manifest["files"][os.path.relpath(final, root)] = sha256(final)
    shutil.rmtree(scratch, ignore_errors=True)
    variants = manifest.setdefault("variants", {})
    old = variants.get("int8", {})
    entry = {"generator": variant_files}
    if "decoder" in old:  # the VQ decoder's variant (conv_int8.py) stays, with its gate's figures
        entry["decoder"] = old["decoder"]
    entry["fidelity"] = {
        "passed": True,
        "measuredAt": datetime.date.today().isoformat(),
        "cpu": cpu_model(),
        "checks": {
            "gate": {"minTop1": args.min_top1, "minCosine": args.min_cosine, **gate},
            "rewrite": {"script": "scripts/perf/quantize_int8.py --mode dynamic", "kernel": args.kernel, "weightBits": args.weight_bits,
                        "keepFloat": keep, "attention": args.attention, **{role: {k: v for k, v in r.items() if k != "kept"} for role, r in report.items()}},
        },
    }
    if "decoder" in old.get("fidelity", {}).get("checks", {}):
        entry["fidelity"]["checks"]["decoder"] = old["fidelity"]["checks"]["decoder"]
    if args.judge:  # the judge's paired run of these same graphs (bench/perf/fidelity.ts --json), recorded beside the gate
        with open(args.judge, encoding="utf-8") as f:
            entry["fidelity"]["checks"]["judge"] = json.load(f)
    variants["int8"] = entry
    manifest["files"] = dict(sorted(manifest["files"].items()))
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print(f"wrote variants.int8 into {manifest_path}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="nbits", choices=["nbits", "dynamic"])
    ap.add_argument("--package", required=True)
    ap.add_argument("--out", help="nbits: the new package folder")
    ap.add_argument("--accuracy-level", type=int, default=4, choices=[0, 1, 2, 3, 4])
    ap.add_argument("--graphs", default="generator", help="comma-separated: generator, clip (nbits); generator (dynamic)")
    ap.add_argument("--block-size", type=int, default=BLOCK, choices=[16, 32, 64, 128],
                    help="weights per scale along K (K is padded to whole blocks)")
    ap.add_argument("--kernel", default="split", choices=["fused", "split"], help="dynamic: DynamicQuantizeMatMul, or DynamicQuantizeLinear + MatMulInteger")
    ap.add_argument("--keep-float", default=r"head", help="dynamic: regexes of product node names left in float (comma-separated; '' for none)")
    ap.add_argument("--weight-bits", type=int, default=8, choices=[7, 8])
    ap.add_argument("--attention", default="keys-first", choices=["keys-first", "as-exported"],
                    help="dynamic: the step graph's score product over the cached keys (attention_rewrite.py)")
    ap.add_argument("--min-top1", type=float, default=0.85, help="dynamic: least top-token agreement with fp32 (prefill and steps)")
    ap.add_argument("--min-cosine", type=float, default=0.995, help="dynamic: least mean logit cosine with fp32 over the steps")
    ap.add_argument("--judge", help="dynamic: a JSON file of the judge's paired fp32/int8 run to record in the fidelity entry")
    ap.add_argument("--torch-check", action="store_true", help="dynamic, decoder-only: also compare the prefill with PyTorch doing the same integer arithmetic (recorded in the fidelity entry)")
    ap.add_argument("--gate-rows", type=int, default=32)
    ap.add_argument("--gate-prefixes", type=int, default=8)
    ap.add_argument("--gate-steps", type=int, default=0, help="image positions to compare (0: all)")
    args = ap.parse_args()
    if args.mode == "dynamic":
        dynamic_variant(args)
        return
    if args.out is None:
        raise SystemExit("--mode nbits writes a new package: give --out DIR")
    if os.path.exists(args.out):
        raise SystemExit(f"{args.out} exists; choose a new folder")
    shutil.copytree(args.package, args.out)
    manifest_path = os.path.join(args.out, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    targets = []
    if "generator" in args.graphs:
        targets += [manifest["generator"]["prefill"], manifest["generator"]["step"]]
    if "clip" in args.graphs and manifest.get("clip"):
        targets += [f for f in manifest["files"] if f.startswith(manifest["clip"] + "/") and f.endswith(".onnx")]
    for rel in targets:
        rewritten, kept = rewrite(os.path.join(args.out, rel), args.accuracy_level, args.block_size)
        with open(os.path.join(args.out, rel), "rb") as f:
            manifest["files"][rel] = hashlib.sha256(f.read()).hexdigest()
        print(f"{rel}: {rewritten} MatMul/Gemm -> int8 MatMulNBits, {kept} left in float32")
    manifest["name"] = f"{manifest['name']}-int8"
    manifest["description"] = f"{manifest['description']} Weight-only int8 ({', '.join(args.graphs.split(','))}; scripts/perf/quantize_int8.py, blocks of {args.block_size}, accuracy level {args.accuracy_level})."
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
