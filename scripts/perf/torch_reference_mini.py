"""PyTorch reference for an encoder-decoder (DALL·E Mini/Mega-shaped) package's decode step.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/torch_reference_mini.py --weights DIR \
      --ids 0,...  --uncond-ids 0,2,1,... --candidates 32 --steps 4 [--heads 16]

The same weights as the converted package (min-dalle's state dicts, read by the converter's
own loader and PyTorch modules, scripts/convert/min_dalle_modules.py), torch.no_grad, the
bench's thread count with OMP_WAIT_POLICY=PASSIVE: the text encoder and cross keys/values
once per distinct text, then `--steps` decode steps over preallocated self-attention slots
(plain keys, attention over the filled slots only, as the converter's step graph does) for every row (a conditional and an unconditional row per candidate, batched, as
supercondition does), timed warm (one untimed step first). Each step samples as Tessera
does for these packages: guidance (scale 16) on the batched rows, top-k 256, an
inverse-CDF draw over the kept codes. Prints one JSON line: ms per step (wall and
process CPU time).

`--cold` instead times one whole run from the text encoder on, without warm-up, over
`--steps` steps (256: every image token), the reference side of the bench's cold row:
prefill and decode ms.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "convert"))
from min_dalle_modules import Decoder, Encoder  # noqa: E402
from min_dalle_spec import find, infer_bart, load_state_dict_file  # noqa: E402


def draw(logits: torch.Tensor, c: int, guidance: float, top_k: int, generator: torch.Generator) -> torch.Tensor:
    """Guidance on the batched rows, top-k, an inverse-CDF draw: one code per candidate ([C])."""
    mixed = (logits[c:] + guidance * (logits[:c] - logits[c:])).double()  # [C, 16384]
    values, indices = mixed.topk(top_k, dim=1)  # [C, k]
    weights = torch.exp(values - values[:, :1])
    cumulative = weights.cumsum(dim=1)
    target = torch.rand(c, 1, generator=generator, dtype=torch.float64) * cumulative[:, -1:]
    pick = torch.searchsorted(cumulative, target, right=True).clamp_(max=top_k - 1)  # [C, 1]
    return indices.gather(1, pick)[:, 0]


@torch.no_grad()
def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--weights", required=True)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--uncond-ids", required=True)
    ap.add_argument("--candidates", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--start", type=int, default=0, help="first image position stepped")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("TESSERA_THREADS", "2")))
    ap.add_argument("--top-k", type=int, default=256)
    ap.add_argument("--guidance", type=float, default=16.0)
    ap.add_argument("--cold", action="store_true", help="time one run from the encoder on, no warm-up step")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    enc_sd = load_state_dict_file(find(args.weights, "encoder", "pt"))
    dec_sd = load_state_dict_file(find(args.weights, "decoder", "pt"))
    shape = infer_bart(enc_sd, dec_sd, args.heads)
    encoder, decoder = Encoder(shape).eval(), Decoder(shape).eval()
    encoder.load_state_dict(enc_sd, strict=True)
    decoder.load_state_dict(dec_sd, strict=True)
    del enc_sd, dec_sd
    texts = torch.tensor([[int(v) for v in args.ids.split(",")], [int(v) for v in args.uncond_ids.split(",")]])  # [2, T]
    c = args.candidates
    rows = 2 * c
    slots = 256
    t0 = time.perf_counter()
    state = encoder(texts)  # [2, T, E]
    cross_k, cross_v = decoder.cross(state)  # [L, 2, H, D, T], [L, 2, H, T, D]
    pick = torch.tensor([0] * c + [1] * c)
    cross_k = [cross_k[l][pick].contiguous() for l in range(shape.layers)]
    cross_v = [cross_v[l][pick].contiguous() for l in range(shape.layers)]
    text_mask = texts.ne(1).float()[pick]
    past_k = [torch.zeros(rows, shape.heads, slots, shape.head_dim) for _ in range(shape.layers)]
    past_v = [torch.zeros(rows, shape.heads, slots, shape.head_dim) for _ in range(shape.layers)]
    mask = torch.zeros(rows, slots)
    prefill_ms = (time.perf_counter() - t0) * 1000
    generator = torch.Generator().manual_seed(7)
    token = torch.full((rows, 1), 2 ** 14 - 1)

    def advance(i: int) -> None:
        """One decode step at image position i: cache write, mask bit, draw."""
        nonlocal token
        # Attention over the filled slots only (views of the preallocated cache), as the
        # shapes reference and Tessera's filled-slots packages do.
        logits, new_k, new_v = decoder.step(token, torch.full((rows, 1), i), mask[:, :i], text_mask,
                                            [k[:, :, :i] for k in past_k], [v[:, :, :i] for v in past_v], cross_k, cross_v)
        for l in range(shape.layers):
            past_k[l][:, :, i, :] = new_k[l, :, :, 0, :]
            past_v[l][:, :, i, :] = new_v[l, :, :, 0, :]
        mask[:, i] = 1
        token = draw(logits, c, args.guidance, args.top_k, generator).repeat(2)[:, None]

    if args.cold:
        t1 = time.perf_counter()
        for i in range(args.steps):
            advance(i)
        decode_ms = (time.perf_counter() - t1) * 1000
        print(json.dumps({"candidates": c, "rows": rows, "prefillMs": prefill_ms, "decodeMs": decode_ms, "steps": args.steps}))
        return
    times, cpu = [], []
    for i in range(args.start, args.start + args.steps + 1):
        w, p = time.perf_counter(), time.process_time()
        advance(i)
        if i > args.start:  # the first step is the warm-up
            times.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - p) * 1000)
    times.sort()
    cpu.sort()
    print(json.dumps({"candidates": c, "rows": rows, "prefillMs": prefill_ms, "msPerStep": times[len(times) // 2], "cpuMsPerStep": cpu[len(cpu) // 2], "steps": args.steps}))


if __name__ == "__main__":
    main()
