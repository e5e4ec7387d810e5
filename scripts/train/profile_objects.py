"""A short CPU profile of the full-size objects models, and the GPU budget it implies.

    OMP_WAIT_POLICY=PASSIVE nice -n 15 /usr/bin/python3 scripts/train/profile_objects.py [--gpu-tflops 60]

For each model at the configuration scripts/train-objects.sh trains (128x128 images,
16x16 codes, 24 text + 256 image tokens), runs a few training steps on random data at a
small batch, measures the CPU seconds per sample and the forward FLOPs (torch.profiler,
x3 for forward + backward), then converts the GPU stage budgets of train-objects.sh into
samples and epochs at an assumed sustained GPU throughput (H200 bf16: ~990 dense TFLOP/s
peak; small convnets and 512-wide transformers sustain a few percent to a few tens of
percent of it, hence the conservative default).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_model import Clip, ClipConfig  # noqa: E402
from gpt import GPT, GPTConfig  # noqa: E402
from vqvae import VQVAE, VQVAEConfig  # noqa: E402

# Kept in step with scripts/train-objects.sh.
VQ = dict(image_size=128, codebook_size=1024)
GEN = dict(text_vocab=1400, image_vocab=1024, text_length=24, grid_height=16, grid_width=16, layers=10, heads=8, head_dim=32, dropout=0.1)
CLIP = dict(vocab_size=1400, max_length=24, image_size=128, vision_channels=[32, 64, 128, 128])
BUDGET_S = {"vqvae": 150, "generator": 300, "clip": 430}
DATASET = 300_000


def profile(name, model, make_batch, loss_of, batch: int, steps: int = 3) -> dict:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = make_batch(batch)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_flops=True) as prof:
        with torch.no_grad():
            loss_of(model, x)
    fwd_flops = sum(e.flops for e in prof.key_averages() if e.flops) / batch
    loss_of(model, x).backward()  # warm-up step
    opt.step(); opt.zero_grad()
    started = time.time()
    for _ in range(steps):
        loss = loss_of(model, x)
        loss.backward()
        opt.step(); opt.zero_grad()
    per_sample = (time.time() - started) / (steps * batch)
    params = sum(p.numel() for p in model.parameters())
    return {"model": name, "params_M": round(params / 1e6, 2), "train_GFLOP_per_sample": round(3 * fwd_flops / 1e9, 3),
            "cpu_ms_per_sample": round(per_sample * 1e3, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu-tflops", type=float, default=60.0, help="assumed sustained training throughput on the GPU")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)

    vq = VQVAE(VQVAEConfig(**VQ))
    vq.cfg.quant_warmup = 0
    gen_cfg = GPTConfig(**GEN)
    gen = GPT(gen_cfg)
    clip = Clip(ClipConfig(**CLIP))
    seq = gen_cfg.text_length + gen_cfg.image_length
    rows = [
        profile("vqvae", vq, lambda b: torch.rand(b, 3, 128, 128), lambda m, x: m(x)["loss"], a.batch),
        profile("generator", gen, lambda b: torch.randint(0, gen_cfg.vocab, (b, seq)),
                lambda m, x: F.cross_entropy(m(x[:, :-1]).reshape(-1, gen_cfg.vocab), x[:, 1:].reshape(-1)), a.batch),
        # CLIP: one image and (1 + 4 hard negatives) captions per sample.
        profile("clip", clip, lambda b: (torch.rand(b, 3, 128, 128), torch.randint(1, 1400, (5 * b, 24))),
                lambda m, x: (m.encode_image(x[0]).sum() + m.encode_text(x[1], torch.ones_like(x[1])).sum()) * 0.0
                + m.encode_image(x[0]).pow(2).mean(), a.batch),
    ]
    for r in rows:
        budget = BUDGET_S[r["model"]]
        samples = budget * a.gpu_tflops * 1e12 / (r["train_GFLOP_per_sample"] * 1e9)
        r.update({"gpu_budget_s": budget, "gpu_samples_in_budget_M": round(samples / 1e6, 2),
                  "epochs_of_300k": round(samples / DATASET, 1), "cpu_hours_same_work": round(samples * r["cpu_ms_per_sample"] / 3.6e6, 1)})
        print(json.dumps(r))


if __name__ == "__main__":
    main()
