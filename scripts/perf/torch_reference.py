"""PyTorch reference sampler for the shipped decoder-only model, for the speed comparison.

  OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/perf/torch_reference.py --package models/default \
      --ids 5,6,7,... --candidates 32,128 [--guidance 3 --uncond-ids ...] [--cold]

What a competent PyTorch user would write (the fair, fast reference the bench compares
Tessera with): the same weights (read from the package's step graph, shapes_weights.py),
torch.no_grad, torch's threads set to the bench's thread count with OMP_WAIT_POLICY=PASSIVE
(without it torch's OpenMP threads spin against OpenBLAS's on 2 cores and it runs 4-5x
slower), one prefill per distinct text, a KV cache preallocated for every row with
attention over the filled slots only (every row of a batch sits at the same position), the
guidance rows batched with the conditional rows, and the same inverse-CDF draw from the
same per-candidate streams as Tessera (so its tokens can be compared with Tessera's). The
uniforms are drawn before the clock starts, which favours the reference slightly.

--int8: PyTorch's own dynamic int8 (issue 27), what a user would try first:
torch.ao.quantization.quantize_dynamic on every nn.Linear of the same model (int8 weights,
activations quantized per batch at run time), with the best quantized engine this torch
has (onednn, then fbgemm/x86, then qnnpack); the engine is printed with the figures.

Prints one JSON object: per candidate count, prefill ms, decode ms, ms per step (wall and
process CPU time, which a machine shared with other jobs disturbs less), and each
candidate's tokens. Without --cold a warm-up run of the largest count comes first; with
--cold the first measured run is the process's first (as a one-shot CLI call would be).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "train"))
from reference_sampler import CandidateStream  # noqa: E402
from shapes_weights import load_gpt  # noqa: E402


@torch.no_grad()
def sample(gpt, text_ids, uncond_ids, guidance: float, seed: int, candidates: int, steps: int):
    cfg = gpt.cfg
    guided = guidance != 1
    streams = [CandidateStream(seed, i) for i in range(candidates)]
    uniforms = torch.tensor([[s.uniform() for s in streams] for _ in range(steps)], dtype=torch.float64)  # [steps, C]
    t0 = time.perf_counter()
    texts = torch.tensor([text_ids] + ([uncond_ids] if guided else []))  # [P, T]
    x, keys, values = gpt.forward_with_cache(texts)  # keys per layer [P, H, T, D]
    logits = gpt.head(gpt.ln_f(x[:, -1]))  # [P, V]
    rows = candidates * (2 if guided else 1)
    pick = torch.tensor([0] * candidates + ([1] * candidates if guided else []))  # prefix of each row
    slots, t = cfg.max_length, cfg.text_length
    cache_k = [torch.zeros(rows, cfg.heads, slots, cfg.head_dim) for _ in range(cfg.layers)]
    cache_v = [torch.zeros(rows, cfg.heads, slots, cfg.head_dim) for _ in range(cfg.layers)]
    for l in range(cfg.layers):
        cache_k[l][:, :, :t] = keys[l][pick]
        cache_v[l][:, :, :t] = values[l][pick]
    logits = logits[pick]  # [R, V]
    t1 = time.perf_counter()
    c1 = time.process_time()
    codes = torch.zeros(candidates, steps, dtype=torch.long)
    scale = 1.0 / math.sqrt(cfg.head_dim)
    for j in range(steps):
        image = logits[:, cfg.text_vocab:].double()  # [R, imageVocab]
        if guided:
            cond, unc = image[:candidates], image[candidates:]
            image = unc + guidance * (cond - unc)
        weights = torch.exp(image - image.max(dim=1, keepdim=True).values)
        cumulative = weights.cumsum(dim=1)
        target = uniforms[j][:, None] * cumulative[:, -1:]
        code = torch.searchsorted(cumulative, target, right=True).clamp_(max=cfg.image_vocab - 1)[:, 0]  # [C]
        codes[:, j] = code
        if j == steps - 1:
            break
        position = t + j
        ids = (code + cfg.text_vocab).repeat(2 if guided else 1)[:, None]  # [R, 1]
        h = gpt.token_embedding(ids) + gpt.position_embedding.weight[position]  # [R, 1, W]
        for l, block in enumerate(gpt.blocks):
            q, k, v = block.qkv_heads(h)  # [R, H, 1, D]
            cache_k[l][:, :, position] = k[:, :, 0]
            cache_v[l][:, :, position] = v[:, :, 0]
            filled_k = cache_k[l][:, :, : position + 1]  # [R, H, n, D]
            scores = (q @ filled_k.transpose(-1, -2)) * scale  # [R, H, 1, n]
            attended = F.softmax(scores, dim=-1) @ cache_v[l][:, :, : position + 1]  # [R, H, 1, D]
            h = block.merge(h, attended)
        logits = gpt.head(gpt.ln_f(h[:, 0]))  # [R, V]
    t2 = time.perf_counter()
    cpu_ms = (time.process_time() - c1) * 1000  # every thread of the process
    return (t1 - t0) * 1000, (t2 - t1) * 1000, cpu_ms, codes.tolist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", default="models/default")
    ap.add_argument("--ids", required=True, help="the prompt's text ids, comma-separated")
    ap.add_argument("--uncond-ids", default="")
    ap.add_argument("--guidance", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--candidates", default="32,128")
    ap.add_argument("--steps", type=int, default=0, help="image positions to sample (default: all)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("TESSERA_THREADS", "2")))
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--int8", action="store_true", help="torch.ao.quantization.quantize_dynamic on every Linear")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gpt = load_gpt(args.package)
    engine = None
    if args.int8:
        engines = torch.backends.quantized.supported_engines
        engine = next(e for e in ("onednn", "x86", "fbgemm", "qnnpack") if e in engines)
        torch.backends.quantized.engine = engine
        gpt = torch.ao.quantization.quantize_dynamic(gpt, {torch.nn.Linear}, dtype=torch.qint8)
    steps = args.steps or gpt.cfg.image_length
    ids = [int(v) for v in args.ids.split(",")]
    uncond = [int(v) for v in args.uncond_ids.split(",")] if args.uncond_ids else [0] * len(ids)
    counts = [int(c) for c in args.candidates.split(",")]
    if not args.cold:
        sample(gpt, ids, uncond, args.guidance, args.seed, max(counts), min(steps, 8))
    runs = []
    for count in counts:
        prefill_ms, decode_ms, cpu_ms, codes = sample(gpt, ids, uncond, args.guidance, args.seed, count, steps)
        runs.append({"candidates": count, "prefillMs": prefill_ms, "decodeMs": decode_ms,
                     "msPerStep": decode_ms / steps, "cpuMsPerStep": cpu_ms / steps, "tokens": codes})
    print(json.dumps({"threads": args.threads, "torch": torch.__version__, "quantizedEngine": engine, "steps": steps, "runs": runs}))


if __name__ == "__main__":
    main()
