"""Held-out evaluation of the CLIP being trained (train_clip.py): for each held-out image,
its longest caption against every hard negative of it (overall and per negative type), and
text -> image retrieval among up to 512 held-out images. Kept apart from the training loop,
which calls it every --eval-every seconds and at the end, and logs what it returns."""
from __future__ import annotations

from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from clip_captions import NEG_TYPES, Negatives, Tokens

# (image index, caption, [(negative type, negative caption), ...])
HeldOutRow = Tuple[int, str, List[Tuple[str, str]]]


def held_out_rows(val_idx: np.ndarray, cap_lists: Sequence[Sequence[str]], negs: Negatives) -> List[HeldOutRow]:
    """The fixed held-out set: each image's first (longest) caption and all its negatives
    that are not one of the image's own captions."""
    val_rows = []
    for i in val_idx:
        cap = max(cap_lists[i], key=lambda c: len(c.split()))
        own = {c.lower() for c in cap_lists[i]}
        vs = [(k, s) for k, s in negs.variants(cap) if s not in own]
        val_rows.append((int(i), cap, vs))
    return val_rows


@torch.no_grad()
def evaluate(model: torch.nn.Module, val_rows: List[HeldOutRow], cap_lists: Sequence[Sequence[str]], tok: Tokens,
             images_of: Callable[[np.ndarray], torch.Tensor], dev: torch.device) -> Dict[str, float]:
    """val_hard_acc (the caption beats all its negatives), val_<type> (beats one negative of that
    type) and val_retrieval; leaves the model in training mode."""
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
