"""Train Tessera's small CLIP contrastively, with hard negatives.

    PYTHONUNBUFFERED=1 python3 scripts/train/train_clip.py --data data/shapes --out checkpoints/clip \
        --seconds 600 [--steps 20000] [--batch 256] [--negatives 4] [--resume]

Loss: symmetric InfoNCE over the batch; the image->text side also scores, for every
image, K hard negatives of *every* caption in the batch (its own caption with one
colour / shape / size / relation / count word swapped, or two objects' attributes
exchanged). Pairs that are actually true (a text equal to one of the image's own
captions) are masked out of the softmax.

The captions' side (hard negatives, spec keys, token ids) is in clip_captions.py, the
held-out evaluation in clip_eval.py, the model in clip_model.py; this file is the
training loop. Runs unchanged on torch 1.13 CPU and torch 2.x CUDA. Writes to --out:
  config.json       ClipConfig
  ckpt.pt           full state (model, optimiser, step, elapsed) for --resume
  model.fp16.pt     fp16 state_dict of the model (the snapshot to commit / export)
  vocab.json        {token: id} used for training (same ids as the exported tokenizer)
  log.csv           step,seconds,loss,train_acc,lr,logit_scale,val_hard_acc,val_<type>..,val_retrieval
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import random
import sys
import time
from typing import Dict, List

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_captions import NEG_TYPES, Negatives, Tokens, load_specs, spec_key  # noqa: E402
from clip_eval import evaluate, held_out_rows  # noqa: E402
from clip_model import Clip, ClipConfig  # noqa: E402
from data import load_shapes  # noqa: E402
from wordpiece import build_vocab  # noqa: E402

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/shapes")
    ap.add_argument("--out", default="checkpoints/clip")
    ap.add_argument("--seconds", type=float, default=600, help="wall-clock budget of this run")
    ap.add_argument("--steps", type=int, default=0, help="total steps (0 = until --seconds); sets the cosine schedule")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--negatives", type=int, default=4, help="hard negatives per caption")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--val", type=int, default=1000, help="held-out images")
    ap.add_argument("--eval-every", type=float, default=60, help="seconds between evaluations")
    ap.add_argument("--ckpt-every", type=float, default=300, help="seconds between checkpoints")
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--config", default=None, help="JSON of ClipConfig overrides (new runs only)")
    a = ap.parse_args()

    t_start = time.time()
    torch.set_num_threads(a.threads)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    random.seed(a.seed); np.random.seed(a.seed); torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)

    data = load_shapes(a.data, a.limit)
    meta = data.meta
    words = meta.get("vocabulary") or meta.get("words") or sorted({w for caps in data.captions for c in caps for w in c.lower().split()})
    vocab = build_vocab(words)
    negs = Negatives(meta, list(vocab), a.seed)
    N = data.images.shape[0]
    n_val = min(a.val, N // 10)
    val_idx = np.arange(N - n_val, N)
    train_n = N - n_val
    print(f"device {dev} torch {torch.__version__}; {N} images ({train_n} train, {n_val} held out); vocab {len(vocab)}")

    ckpt_path = os.path.join(a.out, "ckpt.pt")
    cfg_path = os.path.join(a.out, "config.json")
    if a.resume and os.path.exists(ckpt_path):
        cfg = ClipConfig.load(cfg_path)
    else:
        over = json.loads(a.config) if a.config else {}
        cfg = ClipConfig.from_dict({"vocab_size": len(vocab), **over})
    if cfg.vocab_size != len(vocab):
        raise SystemExit(f"config vocab_size {cfg.vocab_size} != dataset vocabulary {len(vocab)}")
    cfg.save(cfg_path)
    with open(os.path.join(a.out, "vocab.json"), "w") as f:
        json.dump(vocab, f)

    model = Clip(cfg).to(dev)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
    other = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98))
    step, elapsed = 0, 0.0
    if a.resume and os.path.exists(ckpt_path):
        st = torch.load(ckpt_path, map_location=dev)
        model.load_state_dict(st["model"]); opt.load_state_dict(st["opt"])
        step, elapsed = st["step"], st["elapsed"]
        print(f"resumed at step {step} ({elapsed:.0f}s trained)")

    images_all = torch.from_numpy(np.ascontiguousarray(data.images))
    if dev.type == "cuda":
        images_all = images_all.to(dev)
    cap_lists = data.captions
    spec_ids: Dict[str, int] = {}
    specs = getattr(data, "specs", None)
    if specs is None:  # data.py keeps scenes only: read the specs beside them
        specs = load_specs(a.data, N)
    spec_hash = torch.tensor([spec_ids.setdefault(spec_key(sp) if sp else f"#{i}", len(spec_ids)) for i, sp in enumerate(specs)],
                             dtype=torch.long, device=dev)
    tok = Tokens(vocab, cfg.max_length)
    use_amp = dev.type == "cuda"
    amp_dtype = torch.bfloat16

    def lr_at(s: int) -> float:
        w = min(1.0, (s + 1) / a.warmup)
        if a.steps:
            p = min(1.0, s / max(1, a.steps))
            return a.lr * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))
        return a.lr * w

    def images_of(idx: np.ndarray) -> torch.Tensor:
        t = images_all[torch.as_tensor(idx, device=images_all.device)]
        return model.normalize_uint8(t.to(dev, non_blocking=True))

    # fixed held-out evaluation set: first (longest) caption + all its negatives
    val_rows = held_out_rows(val_idx, cap_lists, negs)

    log_path = os.path.join(a.out, "log.csv")
    new_log = not (a.resume and os.path.exists(log_path))
    log_f = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_f)
    cols = ["step", "seconds", "loss", "train_acc", "lr", "logit_scale", "val_hard_acc"] + [f"val_{t}" for t in NEG_TYPES] + ["val_retrieval"]
    if new_log:
        log.writerow(cols)

    def save(final: bool) -> None:
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "elapsed": elapsed}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)
        half = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
        torch.save(half, os.path.join(a.out, "model.fp16.pt.tmp"))
        os.replace(os.path.join(a.out, "model.fp16.pt.tmp"), os.path.join(a.out, "model.fp16.pt"))
        print(f"saved step {step} -> {a.out}{' (final)' if final else ''}")

    model.train()
    B, K = min(a.batch, train_n), a.negatives
    run_start = time.time()
    last_eval, last_ckpt = run_start, run_start
    loss_ema, acc_ema = None, None
    rng = np.random.default_rng(a.seed + step)
    while True:
        now = time.time()
        if now - run_start >= a.seconds or (a.steps and step >= a.steps):
            break
        idx = rng.choice(train_n, size=B, replace=False)
        caps = [random.choice(cap_lists[i]) for i in idx]
        texts = list(caps)
        for c in caps:
            vs = negs.variants(c)
            by_type: Dict[str, List[str]] = {}
            for kind, neg in vs:
                by_type.setdefault(kind, []).append(neg)
            # types drawn uniformly (relation/binding have 1-2 variants, colour/shape ~14)
            pick = [random.choice(by_type[random.choice(list(by_type))]) for _ in range(K)] if by_type else []
            while len(pick) < K:  # captions with too few variants: pad with random other captions
                pick.append(caps[random.randrange(B)])
            texts.extend(pick)
        idx_t = torch.as_tensor(idx, device=dev)
        # true[i, t]: text t asserts image i's spec (its positive, or a paraphrase from another
        # image with the same spec: a false negative, masked). Hard negatives never match.
        true = torch.zeros(B, len(texts), dtype=torch.bool, device=dev)
        true[:, :B] = spec_hash[idx_t].unsqueeze(1) == spec_hash[idx_t].unsqueeze(0)
        target = torch.arange(B, device=dev)
        ids, mk = tok(texts)
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        with (torch.autocast(device_type="cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()):
            ie = model.encode_image(images_of(idx))
            te = model.encode_text(ids.to(dev), mk.to(dev))
        ie = F.normalize(ie.float(), dim=-1)
        te = F.normalize(te.float(), dim=-1)
        scale = model.logit_scale.clamp(max=math.log(100.0)).exp()
        logits = scale * ie @ te.t()                           # [B, B(1+K)]
        mask = true.clone()
        mask[target, target] = False
        logits = logits.masked_fill(mask, -1e4)
        loss_i2t = F.cross_entropy(logits, target)
        loss_t2i = F.cross_entropy(logits[:, :B].t(), target)
        loss = 0.5 * (loss_i2t + loss_t2i)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            acc = (logits.argmax(1) == target).float().mean().item()
        lv = loss.item()
        loss_ema = lv if loss_ema is None else 0.98 * loss_ema + 0.02 * lv
        acc_ema = acc if acc_ema is None else 0.98 * acc_ema + 0.02 * acc
        step += 1
        elapsed += time.time() - now
        if step % 20 == 0 or step == 1:
            print(f"step {step} loss {loss_ema:.4f} acc {acc_ema:.3f} lr {lr_at(step):.2e} scale {scale.item():.1f} "
                  f"{(time.time() - now):.2f}s/step run {time.time() - run_start:.0f}s")
        if time.time() - last_eval >= a.eval_every:
            r = evaluate(model, val_rows, cap_lists, tok, images_of, dev); last_eval = time.time()
            print("eval", json.dumps({k: round(v, 4) for k, v in r.items()}))
            log.writerow([step, round(elapsed, 1), round(loss_ema, 5), round(acc_ema, 4), lr_at(step), round(scale.item(), 3)] + [round(r[c], 4) for c in cols[6:]])
            log_f.flush()
        if time.time() - last_ckpt >= a.ckpt_every:
            save(False); last_ckpt = time.time()
    r = evaluate(model, val_rows, cap_lists, tok, images_of, dev)
    print("final eval", json.dumps({k: round(v, 4) for k, v in r.items()}))
    if loss_ema is not None:
        log.writerow([step, round(elapsed, 1), round(loss_ema, 5), round(acc_ema, 4), lr_at(step), round(model.logit_scale.exp().item(), 3)] + [round(r[c], 4) for c in cols[6:]])
    log_f.close()
    save(True)
    print(f"done: step {step}, {elapsed:.0f}s trained in total, this run {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
