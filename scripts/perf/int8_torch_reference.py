"""PyTorch reference for the int8 variant's prefill (issue 27): the shipped decoder-only model
(shapes_weights.load_gpt) with every Linear but the head computed exactly as the rewritten
graph does it (quantize_int8.py --mode dynamic), so the ONNX int8 graph can be checked
against an independent implementation of the same arithmetic:

  activations: ONNX DynamicQuantizeLinear over the whole input tensor (u8; scale =
               (max(0, max x) - min(0, min x)) / 255, zero point = round(-min / scale));
  weights:     int8, symmetric, one scale per output channel (max |w| / 127);
  product:     integer (x_q - zp) . w_q, then x (x scale * channel scale), + bias.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/int8_torch_reference.py --package models/default \
      --ids 5,6,7;0,0,0 [--fp32]

Prints one JSON line: the prefill's last-position logits per prefix, [P, vocab] (text and
image vocabularies). --fp32 gives the float model's logits instead.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from shapes_weights import load_gpt  # noqa: E402


class DynamicInt8Linear(torch.nn.Module):
    def __init__(self, linear: torch.nn.Linear, bits: int = 8):
        super().__init__()
        w = linear.weight.detach().t().contiguous()  # [K, N]
        top = float(2 ** (bits - 1) - 1)
        scale = w.abs().amax(dim=0).double() / top  # [N]
        scale[scale == 0] = 1.0
        self.w_q = torch.clamp(torch.round(w.double() / scale), -top, top)  # [K, N], integers held exactly in float64
        self.w_scale = scale.float()
        self.bias = None if linear.bias is None else linear.bias.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = torch.clamp(x.min(), max=0.0)
        high = torch.clamp(x.max(), min=0.0)
        scale = (high - low) / 255.0  # float32, as the graph computes it
        zero = torch.clamp(torch.round(-low / scale), 0, 255)
        q = torch.clamp(torch.round(x / scale) + zero, 0, 255)
        acc = (q.double() - zero.double()) @ self.w_q  # exact integer sums (|sum| < 2^53)
        y = acc.float() * (scale * self.w_scale)
        return y if self.bias is None else y + self.bias


def quantize(module: torch.nn.Module, keep: set) -> None:
    for name, child in module.named_children():
        if isinstance(child, torch.nn.Linear) and name not in keep:
            setattr(module, name, DynamicInt8Linear(child))
        else:
            quantize(child, keep)


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default="models/default")
    ap.add_argument("--ids", required=True, help="prefixes separated by ';', ids by ','")
    ap.add_argument("--fp32", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("TESSERA_THREADS", "2")))
    gpt = load_gpt(args.package)
    if not args.fp32:
        quantize(gpt, keep={"head"})  # the logits head stays float, as --keep-float head leaves it
    texts = torch.tensor([[int(v) for v in p.split(",")] for p in args.ids.split(";")])  # [P, T]
    x, _, _ = gpt.forward_with_cache(texts)
    logits = gpt.head(gpt.ln_f(x[:, -1]))  # [P, V]
    print(json.dumps({"logits": logits.tolist()}))


if __name__ == "__main__":
    main()
