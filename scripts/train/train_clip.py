"""Train Tessera's small CLIP contrastively, with hard negatives.

    PYTHONUNBUFFERED=1 python3 scripts/train/train_clip.py --data data/shapes --out checkpoints/clip \
        --seconds 600 [--steps 20000] [--batch 256] [--negatives 4] [--resume]

Loss: symmetric InfoNCE over the batch; the image->text side also scores, for every
image, K hard negatives of *every* caption in the batch (its own caption with one
colour / shape / size / relation / count word swapped, or two objects' attributes
exchanged). Pairs that are actually true (a text equal to one of the image's own
captions) are masked out of the softmax.

Runs unchanged on torch 1.13 CPU and torch 2.x CUDA. Writes to --out:
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
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_model import Clip, ClipConfig  # noqa: E402
from data import load_shapes  # noqa: E402
from wordpiece import build_vocab  # noqa: E402

# Surface words per concept. meta.json lists the canonical shapes/colours/sizes/backgrounds/
# relations; the synonyms below mirror eval/shapes/captions.ts (SHAPE_WORDS) and eval/world/captions.ts (SIZE_WORDS,
# BACKGROUND_WORDS, RELATION_PHRASES) and are only used when the word is in the vocabulary.
SHAPE_SYNONYMS = {
    "circle": [("circle", "circles"), ("ball", "balls"), ("disk", "disks")],
    "square": [("square", "squares"), ("box", "boxes"), ("block", "blocks")],
    "diamond": [("diamond", "diamonds"), ("rhombus", "rhombuses")],
    "cross": [("cross", "crosses"), ("plus", "pluses")],
    "ring": [("ring", "rings"), ("donut", "donuts"), ("hoop", "hoops")],
}
SIZE_SYNONYMS = {"small": ["small", "little"], "large": ["large", "big"]}
BACKGROUND_SYNONYMS = {"gray": ["gray", "grey"]}
RELATION_WORDS = {"left": ["left"], "right": ["right"], "above": ["above", "over"],
                  "below": ["below", "under", "beneath", "underneath"]}
INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
COUNT_WORDS = {1: ["a", "an"], 2: ["two"], 3: ["three"], 4: ["four"], 5: ["five"]}
NEG_TYPES = ["colour", "shape", "size", "relation", "count", "background", "binding"]


def _names(x) -> List[str]:
    return list(x.keys()) if isinstance(x, dict) else list(x or [])


class Negatives:
    """Single-edit hard-negative captions: one colour / shape / size / relation / count /
    background concept changed, or two objects' colours, shapes or sizes exchanged.
    Edits work on concepts (a synonym is never a negative) and keep the caption grammatical
    (articles, plurals)."""

    def __init__(self, meta: dict, words: Sequence[str], seed: int = 0):
        vocab = set(words)
        self.vocab = vocab
        self.rng = random.Random(seed)
        colours = _names(meta.get("colors") or meta.get("colours"))
        # The objects world names its concepts in meta["nouns"]: concept -> [[singular, plural], ...],
        # phrases of one or more words (joined by "_" while a caption is edited).
        nouns = meta.get("nouns") or {}
        shapes = list(nouns) if nouns else _names(meta.get("shapes"))
        sizes = _names(meta.get("sizes")) or [s for s in SIZE_SYNONYMS]
        backgrounds = _names(meta.get("backgrounds"))
        relations = _names(meta.get("relations")) or list(RELATION_WORDS)
        # word -> (class, concept, plural?)
        self.word: Dict[str, Tuple[str, str, bool]] = {}
        self.surface: Dict[Tuple[str, str, bool], List[str]] = {}

        def add(cls: str, concept: str, w: str, plural: bool = False) -> None:
            if all(p in vocab for p in w.split("_")) and w not in self.word:
                self.word[w] = (cls, concept, plural)
                self.surface.setdefault((cls, concept, plural), []).append(w)

        for c in colours:
            add("colour", c, c)
        for s in shapes:
            forms = nouns[s] if nouns else SHAPE_SYNONYMS.get(s, [(s, s + "es" if s.endswith(("s", "x", "sh", "ch")) else s + "s")])
            for sing, plur in forms:
                add("shape", s, sing.replace(" ", "_"), False)
                add("shape", s, plur.replace(" ", "_"), True)
        for z in sizes:
            for w in SIZE_SYNONYMS.get(z, [z]):
                add("size", z, w)
        for r in relations:
            for w in RELATION_WORDS.get(r, [r]):
                add("relation", r, w)
        for n, ws in COUNT_WORDS.items():
            for w in ws:
                add("count", str(n), w)
        self.concepts = {cls: sorted({k[1] for k in self.surface if k[0] == cls}) for cls in ("colour", "shape", "size", "relation", "count")}
        self.backgrounds = [b for b in backgrounds if any(w in vocab for w in BACKGROUND_SYNONYMS.get(b, [b]))]
        self.bg_surface = {b: [w for w in BACKGROUND_SYNONYMS.get(b, [b]) if w in vocab] for b in self.backgrounds}
        self.bg_word = {w: b for b, ws in self.bg_surface.items() for w in ws}
        self.cache: Dict[str, List[Tuple[str, str]]] = {}
        self.longest = max([k.count("_") + 1 for k in self.word] + [1])

    def _join(self, words: List[str]) -> List[str]:
        """Multi-word concept names as one token ("teddy bear" -> "teddy_bear"), longest match first."""
        out, i = [], 0
        while i < len(words):
            for n in range(min(self.longest, len(words) - i), 0, -1):
                joined = "_".join(words[i:i + n])
                if n == 1 or joined in self.word:
                    out.append(joined); i += n
                    break
        return out

    def _is_bg(self, w: List[str], i: int) -> bool:
        """A background word: "on <bg>" or "<bg> background" (a colour word elsewhere is an object's colour)."""
        return w[i] in self.bg_word and ((i + 1 < len(w) and w[i + 1] == "background") or (i > 0 and w[i - 1] == "on"))

    def _pick(self, key) -> str:
        return self.rng.choice(self.surface[key])

    def canonical(self, w: List[str]) -> str:
        out = []
        for i, t in enumerate(w):
            if t in ("a", "an"):
                out.append("a")
            elif self._is_bg(w, i):
                out.append("bg:" + self.bg_word[t])
            elif t in self.word:
                cls, c, pl = self.word[t]
                out.append(f"{cls}:{c}:{int(pl)}")
            else:
                out.append(t)
        return " ".join(out)

    def _fix_articles(self, w: List[str]) -> List[str]:
        out = list(w)
        for i in range(len(out) - 1):
            if out[i] in ("a", "an") and "an" in self.vocab:
                out[i] = "an" if out[i + 1][:1] in "aeiou" else "a"
        return out

    def _groups(self, w: List[str]) -> List[Tuple[int, List[int], int]]:
        """(determiner index, attribute indices, shape index) per object phrase."""
        groups = []
        for i, t in enumerate(w):
            if self.word.get(t, ("",))[0] != "shape":
                continue
            j, attrs = i - 1, []
            while j >= 0 and self.word.get(w[j], ("",))[0] in ("colour", "size"):
                attrs.append(j); j -= 1
            if j >= 0 and self.word.get(w[j], ("",))[0] == "count":
                groups.append((j, attrs, i))
        return groups

    def variants(self, caption: str) -> List[Tuple[str, str]]:
        """All (type, negative caption) single-edit variants of a caption (cached)."""
        hit = self.cache.get(caption)
        if hit is not None:
            return hit
        w = self._join(caption.lower().split())
        out: list = []
        groups = self._groups(w)
        for i, t in enumerate(w):
            if self._is_bg(w, i):
                for b in self.backgrounds:
                    if b != self.bg_word[t]:
                        v = list(w); v[i] = self.rng.choice(self.bg_surface[b]); out.append(("background", v))
                continue
            info = self.word.get(t)
            if info is None or info[0] == "count":
                continue
            cls, concept, plural = info
            targets = [INVERSE[concept]] if cls == "relation" and concept in INVERSE else self.concepts[cls]
            if len(targets) > 16:  # hundreds of concepts: a sample of swaps per caption, not all of them
                targets = self.rng.sample(targets, 16)
            for other in targets:
                if other != concept and (cls, other, plural) in self.surface:
                    v = list(w); v[i] = self._pick((cls, other, plural)); out.append((cls if cls != "relation" else "relation", v))
        # counts: change the number of one object phrase (a <-> two <-> three), fixing the plural
        for det, attrs, sh in groups:
            n = int(self.word[w[det]][1])
            shape = self.word[w[sh]][1]
            for m in map(int, self.concepts["count"]):
                if m == n or ("shape", shape, m > 1) not in self.surface or ("count", str(m), False) not in self.surface:
                    continue
                v = list(w)
                v[det] = self._pick(("count", str(m), False))
                if (m > 1) != (n > 1):
                    v[sh] = self._pick(("shape", shape, m > 1))
                    if det > 0 and v[det - 1] in ("is", "are") and {"is", "are"} <= self.vocab:
                        v[det - 1] = "are" if m > 1 else "is"
                out.append(("count", v))
        # binding: exchange an attribute between two object phrases
        if len(groups) >= 2:
            (d1, a1, s1), (d2, a2, s2) = groups[0], groups[1]
            pairs = [(s1, s2)] if self.word[w[s1]][2] == self.word[w[s2]][2] else []
            for cls in ("colour", "size"):
                x = [k for k in a1 if self.word[w[k]][0] == cls]
                y = [k for k in a2 if self.word[w[k]][0] == cls]
                if x and y:
                    pairs.append((x[0], y[0]))
            for p, q in pairs:
                v = list(w); v[p], v[q] = v[q], v[p]; out.append(("binding", v))
        orig = self.canonical(w)
        seen = {orig}
        res = []
        for kind, v in out:
            v = self._fix_articles(v)
            c = self.canonical(v)
            if c not in seen:
                seen.add(c)
                res.append((kind, " ".join(v).replace("_", " ")))
        self.cache[caption] = res
        return res


def spec_key(spec: dict) -> str:
    """Canonical text of a spec: equal keys mean each caption of one is true of the other."""
    s = dict(spec or {})
    if s.get("relation") in ("right", "below") and len(s.get("groups", [])) == 2:
        s["relation"] = INVERSE[s["relation"]]
        s["groups"] = [s["groups"][1], s["groups"][0]]
    return json.dumps(s, sort_keys=True)


class Tokens:
    def __init__(self, vocab: Dict[str, int], length: int):
        self.vocab, self.length, self.unk = vocab, length, vocab["[UNK]"]
        self.cache: Dict[str, List[int]] = {}

    def __call__(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for t in texts:
            ids = self.cache.get(t)
            if ids is None:
                ids = [self.vocab.get(x, self.unk) for x in t.lower().split()][: self.length]
                self.cache[t] = ids
            rows.append(ids)
        n = max(1, max(len(r) for r in rows))
        ids = torch.zeros(len(rows), n, dtype=torch.long)
        mask = torch.zeros(len(rows), n, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return ids, mask


def load_specs(folder: str, n: int) -> List[dict]:
    import glob
    specs: List[dict] = []
    for f in sorted(glob.glob(os.path.join(folder, "scenes-*.jsonl"))):
        with open(f, encoding="utf-8") as fh:
            specs.extend(json.loads(line).get("spec") for line in fh if line.strip())
        if len(specs) >= n:
            break
    return specs[:n]


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
    val_rows = []
    for i in val_idx:
        cap = max(cap_lists[i], key=lambda c: len(c.split()))
        own = {c.lower() for c in cap_lists[i]}
        vs = [(k, s) for k, s in negs.variants(cap) if s not in own]
        val_rows.append((int(i), cap, vs))

    log_path = os.path.join(a.out, "log.csv")
    new_log = not (a.resume and os.path.exists(log_path))
    log_f = open(log_path, "w" if new_log else "a", newline="")
    log = csv.writer(log_f)
    cols = ["step", "seconds", "loss", "train_acc", "lr", "logit_scale", "val_hard_acc"] + [f"val_{t}" for t in NEG_TYPES] + ["val_retrieval"]
    if new_log:
        log.writerow(cols)

    @torch.no_grad()
    def evaluate() -> dict:
        model.eval()
        ok_all, per = 0, {t: [0, 0] for t in NEG_TYPES}
        img_emb, txt_emb = [], []
        for s in range(0, len(val_rows), 128):
            chunk = val_rows[s : s + 128]
            ie = F.normalize(model.encode_image(images_of(np.array([r[0] for r in chunk]))).float(), dim=-1)
            texts, owner, kinds = [], [], []
            for j, (_, cap, vs) in enumerate(chunk):
                texts.append(cap); owner.append(j); kinds.append("true")
                for k, v in vs:
                    texts.append(v); owner.append(j); kinds.append(k)
            te_all = []
            for u in range(0, len(texts), 2048):
                ids, mk = tok(texts[u : u + 2048])
                te_all.append(F.normalize(model.encode_text(ids.to(dev), mk.to(dev)).float(), dim=-1))
            te = torch.cat(te_all)
            own = torch.tensor(owner, device=dev)
            sc = (te * ie[own]).sum(-1).cpu().tolist()
            true_score = {}
            for q, (o, k) in enumerate(zip(owner, kinds)):
                if k == "true":
                    true_score[o] = sc[q]
            worst = {}
            for q, (o, k) in enumerate(zip(owner, kinds)):
                if k == "true":
                    continue
                per[k][0] += sc[q] < true_score[o]; per[k][1] += 1
                worst[o] = max(worst.get(o, -9), sc[q])
            ok_all += sum(1 for o in true_score if worst.get(o, -9) < true_score[o])
            img_emb.append(ie); txt_emb.append(te[[q for q, k in enumerate(kinds) if k == "true"]])
        ie, te = torch.cat(img_emb)[:512], torch.cat(txt_emb)[:512]
        # text -> image retrieval among up to 512 held-out images (a hit if the top image has that caption)
        top = (te @ ie.t()).argmax(1).cpu().tolist()
        caps = [val_rows[i][1].lower() for i in range(len(top))]
        hit = sum(1 for i, j in enumerate(top) if caps[i] in {c.lower() for c in cap_lists[val_rows[j][0]]})
        model.train()
        r = {"val_hard_acc": ok_all / max(1, len(val_rows)), "val_retrieval": hit / max(1, len(top))}
        for t in NEG_TYPES:
            r[f"val_{t}"] = per[t][0] / per[t][1] if per[t][1] else float("nan")
        return r

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
            r = evaluate(); last_eval = time.time()
            print("eval", json.dumps({k: round(v, 4) for k, v in r.items()}))
            log.writerow([step, round(elapsed, 1), round(loss_ema, 5), round(acc_ema, 4), lr_at(step), round(scale.item(), 3)] + [round(r[c], 4) for c in cols[6:]])
            log_f.flush()
        if time.time() - last_ckpt >= a.ckpt_every:
            save(False); last_ckpt = time.time()
    r = evaluate()
    print("final eval", json.dumps({k: round(v, 4) for k, v in r.items()}))
    if loss_ema is not None:
        log.writerow([step, round(elapsed, 1), round(loss_ema, 5), round(acc_ema, 4), lr_at(step), round(model.logit_scale.exp().item(), 3)] + [round(r[c], 4) for c in cols[6:]])
    log_f.close()
    save(True)
    print(f"done: step {step}, {elapsed:.0f}s trained in total, this run {time.time() - t_start:.0f}s")


if __name__ == "__main__":
    main()
