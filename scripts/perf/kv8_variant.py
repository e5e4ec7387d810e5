"""An int8 KV cache for a package's int8 variant (issue 27, tenth session), gated like the variant.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/kv8_variant.py --package DIR
      [--min-top1 0.85] [--min-cosine 0.995] [--gate-rows 8] [--gate-prefixes 4] [--gate-steps 24]

The package's int8 step graph (`variants.int8.generator.step`, written by quantize_int8.py
--mode dynamic) is rewritten by kv8_probe.py's `to_int8_cache` to read its self-attention
keys/values as s8 with a float scale per (row, head, slot) through MatMulInteger (the probe's
docstring has the arithmetic), saved beside it as `<step>.kv8.onnx` sharing its external data
(the data file is not rewritten: other packages may hard-link it). The generators then keep their
cache as Int8KvSlots (src/generator/kv-slots-int8.ts: `slotsFor` picks it from the step graph's
int8 `past_key_0`).

Before the manifest names it, the same fidelity gate as the int8 variant's
(scripts/perf/int8-gate.ts: the package's fp32 generator against the int8 prefill with this
step, same prefixes and fed tokens, each with its own cache) must pass its thresholds; otherwise
the graph is removed and the package left as it was. Passing, `variants.int8.generator.step`
names the new graph, its hash joins `files`, and `variants.int8.fidelity.checks.kv8` records the
gate and the rewrite.

Why only as an opt-in step, per package: on the DALL-E Mini-shaped package the int8 cache made
the whole 32-candidate image 1.04-1.15x faster through the sampling lanes (1.13x its sampling;
docs/benchmarks.md, "An int8 KV cache in the lanes"), where the two lanes contend for memory;
on the shapes model's narrow heads (32) it was slower (0.81x, "An int8 KV cache").
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "convert"))
from cross_prefixes import save_replacing, write_manifest_replacing  # noqa: E402
from kv8_probe import to_int8_cache  # noqa: E402
from quantize_int8 import cpu_model, gate_failures, run_gate, sha256  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--package", required=True)
    ap.add_argument("--min-top1", type=float, default=0.85)
    ap.add_argument("--min-cosine", type=float, default=0.995)
    ap.add_argument("--gate-rows", type=int, default=8)
    ap.add_argument("--gate-prefixes", type=int, default=4)
    ap.add_argument("--gate-steps", type=int, default=24, help="image positions to compare (0: all)")
    args = ap.parse_args()
    args.torch_check = False
    manifest_path = os.path.join(args.package, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    variant = (manifest.get("variants") or {}).get("int8")
    if variant is None:
        raise SystemExit(f"{args.package} has no int8 variant: run scripts/perf/quantize_int8.py --mode dynamic --package {args.package} first")
    source = variant["generator"]["step"]
    if source.endswith(".kv8.onnx"):
        raise SystemExit(f"{args.package}'s int8 step {source} already reads an int8 cache")
    target = source[: -len(".onnx")] + ".kv8.onnx"
    model = onnx.load(os.path.join(args.package, source), load_external_data=False)
    rewrite = to_int8_cache(model)  # the initializers keep their external data: the same file, beside it
    target_path = os.path.join(args.package, target)
    save_replacing(model, target_path)
    onnx.checker.check_model(target_path)
    try:
        gate = run_gate(args.package, {"prefill": variant["generator"]["prefill"], "step": target}, args)
    except BaseException:  # the gate did not run: the package stays as it was
        os.remove(target_path)
        raise
    failures = gate_failures(gate, args.min_top1, args.min_cosine)
    print(f"gate (fp32 against the int8 step on an int8 cache): prefill top-1 {gate['prefillTop1']:.4f}; steps top-1 "
          f"{gate['stepTop1']:.4f}, cosine mean {gate['stepCosineMean']:.5f} min {gate['stepCosineMin']:.5f} "
          f"({gate['rows']} rows x {gate['steps']} steps)", file=sys.stderr)
    if failures:
        os.remove(target_path)
        print("REFUSED: the int8 cache fails its fidelity gate, not written: " + "; ".join(failures), file=sys.stderr)
        raise SystemExit(1)
    variant["generator"]["step"] = target
    manifest.setdefault("files", {})[target] = sha256(target_path)
    fidelity = variant.setdefault("fidelity", {"passed": True, "checks": {}})
    fidelity["measuredAt"] = datetime.date.today().isoformat()
    fidelity["cpu"] = cpu_model()
    fidelity.setdefault("checks", {})["kv8"] = {
        "script": "scripts/perf/kv8_variant.py",
        "source": source,
        "gate": {"minTop1": args.min_top1, "minCosine": args.min_cosine, **gate},
        "rewrite": rewrite,
    }
    write_manifest_replacing(manifest, manifest_path)
    json.dump({"package": args.package, "step": target, "gate": gate, "rewrite": rewrite}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
