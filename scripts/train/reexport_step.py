"""Re-exports a decoder-only package's step graph to the current step contract (issue 12).

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/train/reexport_step.py --package models/default [--out DIR]

The weights are the package's own (read back from its step graph by
scripts/perf/shapes_weights.py), so the outputs are the same numbers; only the graph's
cache contract and op count change. The current contract (gpt.py `StepGraph`, the
manifest's `generator.cache = {keys: "plain", slots: "filled"}`):
  * keys are plain [R,H,C,D], like values (not transposed): onnxruntime fuses the score
    product's transpose into its MatMul, and a step's new key is one contiguous write;
  * the slot axis C is dynamic, so Tessera passes only the slots filled so far;
  * heads are split and merged by constant reshapes, so the graph carries no
    Shape/Gather/Concat chains computing view sizes (~610 -> ~420 ops).
Check the result with `node --import tsx scripts/train/check-step-reexport.ts OLD NEW`
(old and new graphs on the same random cache, all slots and filled slots only).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "perf"))
sys.path.insert(0, os.path.dirname(__file__))
from export_generator import OPSET, example_step_inputs  # noqa: E402
from gpt import STEP_CACHE, StepGraph, split_past, step_dynamic_axes, step_input_names  # noqa: E402
from shapes_weights import load_gpt  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--out", default=None, help="package folder to write into (default: --package, in place)")
    args = ap.parse_args()
    out = args.out or args.package
    gpt = load_gpt(args.package)
    cfg = gpt.cfg
    manifest_path = os.path.join(out, "manifest.json")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    path = os.path.join(out, manifest["generator"]["step"])
    warnings.filterwarnings("error", category=torch.jit.TracerWarning)
    ids, positions, mask, past_k, past_v = example_step_inputs(cfg, rows=3)
    with torch.no_grad():
        torch.onnx.export(StepGraph(gpt), (ids, positions, mask, *split_past(past_k, past_v)), path, opset_version=OPSET,
                          input_names=step_input_names(cfg.layers), output_names=["logits", "new_keys", "new_values"],
                          dynamic_axes=step_dynamic_axes(cfg.layers))
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model)
    with open(path, "rb") as f:
        manifest["files"][manifest["generator"]["step"]] = hashlib.sha256(f.read()).hexdigest()
    manifest["generator"]["cache"] = dict(STEP_CACHE)
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    print(f"wrote {path}: {len(ops)} ops (Shape {ops.count('Shape')}, Transpose {ops.count('Transpose')}, Reshape {ops.count('Reshape')})")


if __name__ == "__main__":
    main()
