"""Train the generator (scripts/train/gpt.py) on shapes captions and VQ-VAE codes.

  PYTHONUNBUFFERED=1 /usr/bin/python3 scripts/train/train_generator.py --data data/shapes \
      --vqvae checkpoints/vqvae --out checkpoints/generator --seconds 3600 [--resume]

As in DALL·E, one stream [text | image] is modelled with a causal transformer; the loss
is on the image tokens only (the text is always given at sampling time). For
classifier-free guidance (Ho & Salimans 2022) the caption is replaced by the
unconditional text (all padding) for --uncond-prob of the samples.

The learning rate follows the wall-clock budget (warmup, then cosine to 10%) rather
than a step count, so a time-boxed run on any device ends with a decayed model.
Runs unchanged on torch 1.13 CPU and torch 2.x CUDA. Writes to --out: config.json
(GPTConfig), vocab.json (the generator's words), weights.pt (fp16), train_state.pt
(for --resume, not committed), log.csv (step, seconds, loss, val_loss).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_shapes  # noqa: E402
from gpt import GPT, GPTConfig  # noqa: E402
from wordpiece import build_vocab  # noqa: E402


def words_of(text: str):
    """The tokenizer's split: lower-case, whitespace and punctuation (BertPreTokenizer)."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def encode_captions(captions, vocab, length):
    pad, unk = vocab["[PAD]"], vocab["[UNK]"]
    variants = max(len(c) for c in captions)
    ids = np.full((len(captions), variants, length), pad, dtype=np.int64)  # [N, variants, T]
    counts = np.zeros(len(captions), dtype=np.int64)
    for n, options in enumerate(captions):
        counts[n] = len(options)
        for v in range(variants):
            tokens = [vocab.get(w, unk) for w in words_of(options[v % len(options)])][:length]
            ids[n, v, : len(tokens)] = tokens
    return ids, counts


@torch.no_grad()
def encode_images(vqvae_dir: str, images: np.ndarray, device, batch: int = 1024) -> np.ndarray:
    from vqvae import load_vqvae

    model = load_vqvae(vqvae_dir).to(device)
    codes = []
    for start in range(0, images.shape[0], batch):
        x = torch.from_numpy(np.ascontiguousarray(images[start:start + batch])).to(device)
        x = x.permute(0, 3, 1, 2).float() / 255.0  # [B, 3, 64, 64]
        codes.append(model.encode(x).reshape(x.shape[0], -1).cpu().numpy().astype(np.int16))
    return np.concatenate(codes)  # [N, h*w]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/shapes")
    ap.add_argument("--vqvae", default="checkpoints/vqvae")
    ap.add_argument("--out", default="checkpoints/generator")
    ap.add_argument("--seconds", type=float, default=3600)
    ap.add_argument("--steps", type=int, default=10_000_000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=float, default=0.03, help="fraction of the budget spent warming up")
    ap.add_argument("--uncond-prob", type=float, default=0.1)
    ap.add_argument("--text-length", type=int, default=16)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--val", type=int, default=2000)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=100)
    ap.add_argument("--ckpt-every", type=float, default=300.0)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)

    data = load_shapes(args.data, limit=args.limit)
    words = data.meta.get("vocabulary") or sorted({w for options in data.captions for c in options for w in words_of(c)})
    vocab = build_vocab(words)
    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({"words": list(words), "vocab": vocab}, f)

    codes_path = os.path.join(args.out, "codes.npy")
    if os.path.exists(codes_path) and np.load(codes_path, mmap_mode="r").shape[0] == data.images.shape[0]:
        codes = np.load(codes_path)
    else:
        started = time.time()
        codes = encode_images(args.vqvae, data.images, device)
        np.save(codes_path, codes)
        print(f"encoded {codes.shape[0]} images to codes in {time.time() - started:.0f}s")
    from vqvae import VQVAEConfig

    vq_cfg = VQVAEConfig.load(os.path.join(args.vqvae, "config.json"))
    grid = vq_cfg.grid if not callable(vq_cfg.grid) else vq_cfg.grid()

    state_path = os.path.join(args.out, "train_state.pt")
    state = torch.load(state_path, map_location="cpu") if args.resume and os.path.exists(state_path) else None
    if state is not None:
        cfg = GPTConfig.load(os.path.join(args.out, "config.json"))
    else:
        cfg = GPTConfig(text_vocab=len(vocab), image_vocab=vq_cfg.codebook_size, text_length=args.text_length,
                        grid_height=grid, grid_width=grid, layers=args.layers, heads=args.heads,
                        head_dim=args.head_dim, dropout=args.dropout)
        cfg.save(os.path.join(args.out, "config.json"))

    text_ids, variant_counts = encode_captions(data.captions, vocab, cfg.text_length)
    too_long = sum(len(words_of(c)) > cfg.text_length for options in data.captions for c in options)
    print(f"{len(data.captions)} scenes, {len(vocab)} text tokens, {too_long} captions longer than {cfg.text_length}")

    n = codes.shape[0]
    n_val = min(args.val, n // 10)
    text_t = torch.from_numpy(text_ids).to(device)  # [N, variants, T]
    counts_t = torch.from_numpy(variant_counts).to(device)  # [N]
    image_t = (torch.from_numpy(codes.astype(np.int64)) + cfg.text_vocab).to(device)  # [N, h*w]
    uncond = torch.full((cfg.text_length,), vocab["[PAD]"], dtype=torch.long, device=device)

    model = GPT(cfg).to(device)
    decay = [p for name, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for name, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95))
    step, elapsed_before = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed_before = int(state["step"]), float(state["elapsed"])
        print(f"resumed at step {step} after {elapsed_before:.0f}s")
    print(f"device {device} torch {torch.__version__}; GPT {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M params; "
          f"config {json.dumps(cfg.to_json())}")

    log_path = os.path.join(args.out, "log.csv")
    new_log = state is None or not os.path.exists(log_path)
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["step", "seconds", "loss", "val_loss"])
    use_amp = device.type == "cuda"
    total_budget = elapsed_before + args.seconds

    def batch_of(index: torch.Tensor, drop_text: bool) -> torch.Tensor:
        variant = (torch.rand(index.shape[0], device=device) * counts_t[index]).long()
        text = text_t[index, variant]  # [B, T]
        if drop_text:
            keep = torch.rand(index.shape[0], 1, device=device) >= args.uncond_prob
            text = torch.where(keep, text, uncond[None])
        return torch.cat([text, image_t[index]], dim=1)  # [B, T + h*w]

    def loss_of(seq: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            logits = model(seq[:, :-1])[:, cfg.text_length - 1:]  # [B, h*w, V]: image-token predictions
        return F.cross_entropy(logits.float().reshape(-1, cfg.vocab), seq[:, cfg.text_length:].reshape(-1))

    @torch.no_grad()
    def val_loss() -> float:
        model.eval()
        g = torch.Generator(device="cpu").manual_seed(123)
        idx = (n - n_val + torch.randperm(n_val, generator=g)[:512]).to(device)
        value = float(loss_of(batch_of(idx, drop_text=False)))
        model.train()
        return value

    def checkpoint() -> None:
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "elapsed": elapsed_before + time.time() - started}, state_path + ".tmp")
        os.replace(state_path + ".tmp", state_path)
        half = {k: v.detach().half().cpu() if v.is_floating_point() else v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(half, os.path.join(args.out, "weights.pt.tmp"))
        os.replace(os.path.join(args.out, "weights.pt.tmp"), os.path.join(args.out, "weights.pt"))

    model.train()
    started = time.time()
    last_ckpt = started
    running, seen = 0.0, 0
    while step < args.steps and time.time() - started < args.seconds:
        progress = (elapsed_before + time.time() - started) / total_budget
        lr = args.lr * (progress / args.warmup if progress < args.warmup else
                        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (progress - args.warmup) / (1 - args.warmup))))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n - n_val, (args.batch,), device=device)
        loss = loss_of(batch_of(idx, drop_text=True))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        # Reading the loss forces a GPU sync: sample it every 10 steps (and at log steps).
        if step % 10 == 0 or step % args.log_every == 0:
            running += float(loss)
            seen += 1
        if step % args.log_every == 0:
            v = val_loss()
            t = elapsed_before + time.time() - started
            print(f"step {step} t {t:.0f}s lr {lr:.2e} loss {running / max(seen, 1):.4f} val {v:.4f} "
                  f"{step * args.batch / max(time.time() - started, 1e-9):.0f} seq/s", flush=True)
            log.writerow([step, f"{t:.1f}", f"{running / max(seen, 1):.5f}", f"{v:.5f}"])
            log_file.flush()
            running, seen = 0.0, 0
        if time.time() - last_ckpt > args.ckpt_every:
            checkpoint()
            last_ckpt = time.time()
    checkpoint()
    print(f"done: step {step}, val loss {val_loss():.4f}")


if __name__ == "__main__":
    main()
