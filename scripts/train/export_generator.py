"""Export a GPT (scripts/train/gpt.py) to the two ONNX graphs of docs/model-package.md.

Written for torch 1.13's exporter: a separate prefill graph (an empty past breaks the
export), finite mask values, and TracerWarnings treated as errors, because a trace
that silently specialised a shape would export a graph that is wrong for other batch
sizes. `reference_outputs` records PyTorch's outputs for fixed inputs so the test
suite can check the ONNX graphs against PyTorch from Node.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import torch

from gpt import GPT, PrefillGraph, StepGraph, split_past, step_dynamic_axes, step_input_names

OPSET = 14


def export_generator(gpt: GPT, out_dir: str) -> dict:
    cfg = gpt.cfg
    gpt.eval()
    os.makedirs(os.path.join(out_dir, "generator"), exist_ok=True)
    warnings.filterwarnings("error", category=torch.jit.TracerWarning)
    prefill_path = os.path.join(out_dir, "generator", "prefill.onnx")
    step_path = os.path.join(out_dir, "generator", "step.onnx")

    text = torch.randint(0, cfg.text_vocab, (2, cfg.text_length))
    with torch.no_grad():
        torch.onnx.export(
            PrefillGraph(gpt), (text,), prefill_path, opset_version=OPSET,
            input_names=["input_ids"], output_names=["logits", "present_keys", "present_values"],
            # The text axis is dynamic too, so the benchmark's naive sampler can rerun
            # whole sequences through this graph; the pipeline always feeds text.length.
            dynamic_axes={"input_ids": {0: "rows", 1: "length"}, "logits": {0: "rows"},
                          "present_keys": {1: "rows", 3: "length"}, "present_values": {1: "rows", 3: "length"}},
        )
        ids, positions, mask, past_k, past_v = example_step_inputs(cfg, rows=3)
        torch.onnx.export(
            StepGraph(gpt), (ids, positions, mask, *split_past(past_k, past_v)), step_path, opset_version=OPSET,
            input_names=step_input_names(cfg.layers), output_names=["logits", "new_keys", "new_values"],
            dynamic_axes=step_dynamic_axes(cfg.layers),
        )
    import onnx
    for path in (prefill_path, step_path):
        onnx.checker.check_model(onnx.load(path))
    return {"prefill": "generator/prefill.onnx", "step": "generator/step.onnx"}


def example_step_inputs(cfg, rows: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    s, t = cfg.max_length, cfg.text_length
    positions = torch.tensor([[t + (r * 5) % cfg.image_length] for r in range(rows)])  # [R, 1]
    mask = (torch.arange(s)[None, :] < positions).float()  # [R, S]
    ids = torch.randint(cfg.text_vocab, cfg.vocab, (rows, 1), generator=g)
    shape = (cfg.layers, rows, cfg.heads, s, cfg.head_dim)
    past_k = torch.randn(shape, generator=g)
    past_v = torch.randn(shape, generator=g)
    return ids, positions, mask, past_k, past_v


def reference_outputs(gpt: GPT) -> dict:
    """PyTorch outputs for fixed inputs, for the ONNX-vs-PyTorch test."""
    cfg = gpt.cfg
    gpt.eval()
    g = torch.Generator().manual_seed(1)
    text = torch.randint(0, cfg.text_vocab, (2, cfg.text_length), generator=g)
    step_inputs = example_step_inputs(cfg, rows=3, seed=2)
    with torch.no_grad():
        p_logits, p_keys, p_values = PrefillGraph(gpt)(text)
        ids, positions, mask, past_k, past_v = step_inputs
        s_logits, s_keys, s_values = StepGraph(gpt)(ids, positions, mask, *split_past(past_k, past_v))
    as_list = lambda t: np.asarray(t, dtype=np.float64).reshape(-1).tolist()  # noqa: E731
    return {
        "prefill": {"input_ids": text.tolist(), "logits": as_list(p_logits), "present_keys_sum": float(p_keys.double().sum()),
                    "present_values_sum": float(p_values.double().sum())},
        "step": {"input_ids": step_inputs[0].tolist(), "position_ids": step_inputs[1].tolist(),
                 "attention_mask": as_list(step_inputs[2]), "past_keys": as_list(step_inputs[3]),
                 "past_values": as_list(step_inputs[4]), "logits": as_list(s_logits),
                 "new_keys": as_list(s_keys), "new_values": as_list(s_values)},
    }
