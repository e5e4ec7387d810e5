"""Re-exports a decoder-only package's step graph without its shape arithmetic (issue 12).

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/lean_step_graph.py --package models/default [--out DIR]

torch 1.13's tracer turns every `view(b, n, heads, head_dim)` of scripts/train/gpt.py into
a Shape -> Gather -> Unsqueeze -> Concat chain (the row count is dynamic), and the step's
head split/merge into Transposes: ~160 small ops per step, 17-29% of a step's kernel time
in the profile. In a step every row carries exactly one token, so a head split is a plain
reshape to [rows, heads, 1, head_dim] (no transpose moves data when n = 1) and the merge
its inverse: gpt.py's Block.step now says so with constant reshapes (rows as -1), and this
script re-exports a package's step graph through it. The arithmetic is unchanged op for
op, so the outputs are the same numbers (bit-identical logits and keys/values checked).
Weights are the package's own (shapes_weights.py); the manifest's file hash is updated.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from export_generator import OPSET, example_step_inputs  # noqa: E402
from gpt import StepGraph, split_past, step_input_names  # noqa: E402
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
    names = step_input_names(cfg.layers)
    dynamic = {name: {0: "rows"} for name in names}
    dynamic.update({"logits": {0: "rows"}, "new_keys": {1: "rows"}, "new_values": {1: "rows"}})
    with torch.no_grad():
        torch.onnx.export(StepGraph(gpt), (ids, positions, mask, *split_past(past_k, past_v)), path, opset_version=OPSET,
                          input_names=names, output_names=["logits", "new_keys", "new_values"], dynamic_axes=dynamic)
    import onnx
    model = onnx.load(path)
    onnx.checker.check_model(model)
    with open(path, "rb") as f:
        manifest["files"][manifest["generator"]["step"]] = hashlib.sha256(f.read()).hexdigest()
    with open(manifest_path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    ops = [n.op_type for n in model.graph.node if n.op_type != "Constant"]
    print(f"wrote {path}: {len(ops)} ops (Shape {ops.count('Shape')}, Transpose {ops.count('Transpose')}, Reshape {ops.count('Reshape')})")


if __name__ == "__main__":
    main()
