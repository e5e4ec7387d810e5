"""The shipped decoder-only model as a PyTorch GPT, read back from its own ONNX step graph.

The package holds no PyTorch checkpoint, so the PyTorch reference sampler (and the fused
step-graph writer) take the weights from generator/step.onnx itself: named initializers
(embeddings, LayerNorms, biases) map to GPT parameter names directly; the exporter left
the Linear weights it turned into MatMuls anonymous (all four per block in graphs with
[R, 1, W] rows, only the head in graphs with 2-D rows, whose Linears are named Gemms), so
those are taken from the MatMul nodes with an initializer operand, in graph order (qkv,
proj, mlp.0, mlp.2 per block, then the head), each checked against its expected shape.
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from gpt import GPT, GPTConfig  # noqa: E402


def config_from_manifest(package: str) -> GPTConfig:
    with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    if m.get("architecture", "decoder-only") != "decoder-only":
        raise SystemExit(f"{package}: not a decoder-only package")
    g = m["generator"]
    return GPTConfig(text_vocab=m["text"]["vocabSize"], image_vocab=m["image"]["vocabSize"], text_length=m["text"]["length"],
                     grid_height=m["image"]["grid"]["height"], grid_width=m["image"]["grid"]["width"],
                     layers=g["layers"], heads=g["heads"], head_dim=g["headDim"])


def state_dict_from_step_graph(path: str, cfg: GPTConfig) -> dict:
    model = onnx.load(path)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    state = {k[len("gpt."):]: torch.from_numpy(v.copy()) for k, v in inits.items() if k.startswith("gpt.")}
    # Weights the exporter left anonymous are MatMul operands ([in, out]) in graph order;
    # a graph whose Linears became Gemm (rows as 2-D, scripts/train/reexport_step.py)
    # names them, and only the bias-free head is left.
    w = cfg.width
    linears = [(f"blocks.{l}.{p}.weight", shape) for l in range(cfg.layers)
               for p, shape in (("qkv", (w, 3 * w)), ("proj", (w, w)), ("mlp.0", (w, 4 * w)), ("mlp.2", (4 * w, w)))]
    linears.append(("head.weight", (w, cfg.vocab)))
    missing = [(name, shape) for name, shape in linears if name not in state]
    matmuls = [inits[n.input[1]] for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits and not n.input[1].startswith("gpt.")]
    if [tuple(m.shape) for m in matmuls] != [shape for _, shape in missing]:
        raise SystemExit(f"{path}: unexpected MatMul weights {[m.shape for m in matmuls]}")
    for (name, _), weight in zip(missing, matmuls):
        state[name] = torch.from_numpy(np.ascontiguousarray(weight.T))  # Linear stores [out, in]
    return state


def load_gpt(package: str) -> GPT:
    cfg = config_from_manifest(package)
    with open(os.path.join(package, "manifest.json"), encoding="utf-8") as f:
        step = json.load(f)["generator"]["step"]
    gpt = GPT(cfg)
    gpt.load_state_dict(state_dict_from_step_graph(os.path.join(package, step), cfg), strict=True)
    return gpt.eval()
