"""Train the VQ-VAE image tokenizer on shapes shards (time-boxed, resumable).

  PYTHONUNBUFFERED=1 /usr/bin/python3 scripts/train/train_vqvae.py --data data/shapes \
      --out checkpoints/vqvae --seconds 600 [--steps N] [--batch 128] [--resume] [--codebook 512] [--limit N]

Runs unchanged on torch 1.13 CPU and torch 2.x CUDA (device auto-detected). Writes to --out:
  config.json      VQVAEConfig (rebuilt by vqvae.load_vqvae; unknown keys fail)
  weights.pt       fp16 state dict (small; what gets committed / exported)
  train_state.pt   fp32 model + optimizer + step + elapsed, for --resume (not for committing)
  log.csv          step,loss,recon,perplexity,codes_used (batch statistics, for loss curves)
  metrics.json     held-out reconstruction MSE, codes used and perplexity at the end of the run

Stops at whichever comes first: --steps (total, counting resumed steps) or --seconds (this run).
SIGTERM/SIGINT save a checkpoint before exiting.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_shapes  # noqa: E402
from vq_codebook import codebook_stats  # noqa: E402
from vqvae import VQVAE, VQVAEConfig, fp16_state_dict, tiny_config, torch_load  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/shapes")
    ap.add_argument("--out", default="checkpoints/vqvae")
    ap.add_argument("--seconds", type=float, default=600.0, help="wall-clock budget of this run")
    ap.add_argument("--steps", type=int, default=1_000_000, help="total step target (including resumed steps)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--codebook", type=int, default=512)
    ap.add_argument("--image-size", type=int, default=64, help="image edge of new runs (128 -> 16x16 codes at f8)")
    ap.add_argument("--tiny", action="store_true", help="tiny architecture (smoke tests)")
    ap.add_argument("--quant-warmup", type=int, default=None,
                    help="steps of plain autoencoder before the codebook is seeded (new runs; default: config's)")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--val", type=int, default=1000, help="held-out images (the last N of the set)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--ckpt-every", type=float, default=120.0, help="seconds between checkpoints")
    ap.add_argument("--device", default=None, help="cpu / cuda (default: cuda if available)")
    return ap.parse_args()


def atomic_save(obj, path: str) -> None:
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,H,W,3] -> float [B,3,H,W] in [0,1]."""
    return batch_u8.permute(0, 3, 1, 2).float().div_(255.0).contiguous()


@torch.no_grad()
def evaluate(model: VQVAE, images_u8: torch.Tensor, device, batch: int = 256) -> dict:
    model.eval()
    se, n = 0.0, 0
    all_codes = []
    for i in range(0, images_u8.shape[0], batch):
        x = to_float(images_u8[i:i + batch].to(device))
        codes = model.encode(x)
        recon = model.decode(codes)
        se += float(((recon - x) ** 2).mean(dim=(1, 2, 3)).sum())
        n += x.shape[0]
        all_codes.append(codes.reshape(-1).cpu())
    model.train()
    codes = torch.cat(all_codes)
    ppl, used = codebook_stats(codes, model.cfg.codebook_size)
    return {"val_mse": se / max(n, 1), "val_images": n, "val_perplexity": ppl, "val_codes_used": used}


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)
    cfg_path = os.path.join(args.out, "config.json")
    state_path = os.path.join(args.out, "train_state.pt")
    log_path = os.path.join(args.out, "log.csv")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    state = None
    if args.resume and os.path.exists(state_path):
        cfg = VQVAEConfig.load(cfg_path)
        if cfg.codebook_size != args.codebook and args.codebook != 512:
            raise SystemExit(f"--codebook {args.codebook} conflicts with the checkpoint's {cfg.codebook_size}")
        state = torch_load(state_path, weights_only=False)             # our own file
    else:
        if args.resume:
            print(f"--resume: no {state_path}, starting fresh")
        cfg = tiny_config(args.codebook) if args.tiny else VQVAEConfig(codebook_size=args.codebook)
        cfg.image_size = args.image_size
        if args.quant_warmup is not None:
            cfg.quant_warmup = args.quant_warmup
        cfg.validate()
        cfg.save(cfg_path)

    data = load_shapes(args.data, limit=args.limit)
    images = torch.from_numpy(np.ascontiguousarray(data.images))          # uint8 [N,64,64,3]
    if images.shape[1] != cfg.image_size or images.shape[3] != cfg.channels:
        raise SystemExit(f"dataset images {tuple(images.shape[1:])} do not match config {cfg.image_size}x{cfg.channels}")
    n_val = min(args.val, images.shape[0] // 10)
    train_u8, val_u8 = images[:images.shape[0] - n_val], images[images.shape[0] - n_val:]
    if device.type == "cuda":
        train_u8 = train_u8.to(device)                                      # whole set on the GPU (uint8)
    n_train = train_u8.shape[0]
    print(f"device {device} torch {torch.__version__}; {n_train} train / {n_val} held-out images; "
          f"config {json.dumps(cfg.to_dict())}")

    model = VQVAE(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    step, elapsed_before = 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed_before = int(state["step"]), float(state["elapsed"])
        torch.set_rng_state(state["rng"])
        print(f"resumed at step {step} ({elapsed_before:.0f}s trained before)")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"parameters: {n_params / 1e6:.3f} M (decoder {sum(p.numel() for p in model.decoder.parameters()) / 1e6:.3f} M)")

    new_log = not (os.path.exists(log_path) and state is not None)
    log_file = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_file)
    if new_log:
        log.writerow(["step", "loss", "recon", "perplexity", "codes_used"])

    stop = {"flag": False}

    def on_signal(signum, frame):
        print(f"signal {signum}: checkpointing and stopping")
        stop["flag"] = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def checkpoint():
        atomic_save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
                     "elapsed": elapsed_before + (time.time() - t_start), "rng": torch.get_rng_state(),
                     "args": vars(args)}, state_path)
        atomic_save(fp16_state_dict(model), os.path.join(args.out, "weights.pt"))
        cfg.save(cfg_path)

    model.train()
    gen = torch.Generator(device=train_u8.device)
    gen.manual_seed(args.seed * 1000003 + step)
    t_start = time.time()
    t_ckpt = t_start
    t_log, seen_log = t_start, 0
    acc = {"loss": 0.0, "recon": 0.0, "n": 0}
    ppl, used = 0.0, 0
    while step < args.steps and not stop["flag"] and time.time() - t_start < args.seconds:
        lr = args.lr * min(1.0, (step + 1) / max(1, args.warmup))
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n_train, (args.batch,), generator=gen, device=train_u8.device)
        x = to_float(train_u8[idx].to(device, non_blocking=True))
        out = model(x)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        step += 1
        seen_log += x.shape[0]
        if step % args.log_every == 0 or step == 1:
            loss_v, recon_v = float(out["loss"]), float(out["mse"])
            if not math.isfinite(loss_v):
                raise SystemExit(f"non-finite loss at step {step}")
            ppl, used = codebook_stats(out["codes"], cfg.codebook_size)
            log.writerow([step, f"{loss_v:.6f}", f"{recon_v:.6f}", f"{ppl:.2f}", used])
            log_file.flush()
            now = time.time()
            ips = seen_log / max(now - t_log, 1e-9)
            t_log, seen_log = now, 0
            print(f"step {step} loss {loss_v:.5f} recon {recon_v:.5f} perplexity {ppl:.1f} codes_used {used}/"
                  f"{cfg.codebook_size} restarts {model.quantizer.last_restarts} lr {lr:.2e} "
                  f"{ips:.0f} img/s t {now - t_start:.0f}s")
        if time.time() - t_ckpt >= args.ckpt_every:
            checkpoint()
            t_ckpt = time.time()
    checkpoint()
    log_file.close()
    metrics = evaluate(model, val_u8, device)
    metrics.update({"step": step, "seconds": elapsed_before + (time.time() - t_start),
                    "device": str(device), "torch": torch.__version__})
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"done: step {step}; held-out recon MSE {metrics['val_mse']:.5f}, "
          f"perplexity {metrics['val_perplexity']:.1f}, codes used {metrics['val_codes_used']}/{cfg.codebook_size}; "
          f"saved {args.out}/weights.pt")


if __name__ == "__main__":
    main()
