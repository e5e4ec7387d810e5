"""Objects-world scenes composited from the sprite atlas (eval/objects/atlas.ts).

A dataset written with `make-objects-dataset.ts --atlas` holds scenes-NNNNN.jsonl,
meta.json, sprites.npy (uint8 [K, S, S, 4], RGBA, not premultiplied) and sprites.json
(pad, canvas, entries: concept, color, size, box w/h). Scene boxes sit on whole pixels,
so each object is its sprite alpha-blended over the picture at (left - pad, top - pad),
in scene order: the renderer's own image up to rounding (test_objects_data.py measures it).
This is how a machine without Node and sharp (the GPU box) gets 128x128 images from a
few tens of MB of transfer.
"""
from __future__ import annotations

import glob
import json
import os

import numpy as np


def sprite_index(folder: str):
    with open(os.path.join(folder, "sprites.json"), encoding="utf-8") as f:
        atlas = json.load(f)
    sprites = np.load(os.path.join(folder, "sprites.npy"))                      # [K, S, S, 4] uint8
    index = {(e["concept"], e["color"] or "", e["size"]): (k, e["w"], e["h"]) for k, e in enumerate(atlas["entries"])}
    return sprites, index, int(atlas["pad"])


def composite(scene: dict, sprites: np.ndarray, index: dict, pad: int, size: int, backgrounds: dict) -> np.ndarray:
    """One scene as uint8 [size, size, 3]."""
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = np.asarray(backgrounds[scene["background"]], dtype=np.float32)
    canvas = sprites.shape[1]
    for o in scene["objects"]:
        k, w, h = index[(o["concept"], o.get("color") or "", o["size"])]
        left = int(round(o["x"] - w / 2)) - pad
        top = int(round(o["y"] - h / 2)) - pad
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(size, left + canvas), min(size, top + canvas)
        if x1 <= x0 or y1 <= y0:
            continue
        sp = sprites[k, y0 - top:y1 - top, x0 - left:x1 - left].astype(np.float32)  # [h, w, 4]
        a = sp[..., 3:4] / 255.0
        img[y0:y1, x0:x1] = a * sp[..., :3] + (1.0 - a) * img[y0:y1, x0:x1]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def load_atlas_scenes(folder: str, limit: int | None = None):
    """(images [N, size, size, 3] uint8, captions, scenes, meta) composited from the atlas."""
    with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    size = int(meta["image"]["size"])
    sprites, index, pad = sprite_index(folder)
    rows = []
    for scene_file in sorted(glob.glob(os.path.join(folder, "scenes-*.jsonl"))):
        with open(scene_file, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
        if limit is not None and len(rows) >= limit:
            break
    if limit is not None:
        rows = rows[:limit]
    images = np.empty((len(rows), size, size, 3), dtype=np.uint8)
    for i, r in enumerate(rows):
        images[i] = composite(r["scene"], sprites, index, pad, size, meta["backgrounds"])
    return images, [r["captions"] for r in rows], [r["scene"] for r in rows], meta


def _composite_range(args) -> int:
    folder, out_path, start, end = args
    with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
        meta = json.load(f)
    size = int(meta["image"]["size"])
    sprites, index, pad = sprite_index(folder)
    out = np.lib.format.open_memmap(out_path, mode="r+")
    rows = _scene_rows(folder)[start:end]
    for i, r in enumerate(rows):
        out[start + i] = composite(r["scene"], sprites, index, pad, size, meta["backgrounds"])
    out.flush()
    return end - start


def _scene_rows(folder: str) -> list:
    rows = []
    for scene_file in sorted(glob.glob(os.path.join(folder, "scenes-*.jsonl"))):
        with open(scene_file, encoding="utf-8") as f:
            rows.extend(json.loads(line) for line in f if line.strip())
    return rows


def composite_to_npy(folder: str, out_path: str, workers: int | None = None) -> int:
    """Composites every scene of an atlas folder into one uint8 .npy [N, size, size, 3], in parallel
    (one process per core writes its slice of a memory-mapped file): ~10 s for 300k scenes on 16 cores."""
    from multiprocessing import Pool

    with open(os.path.join(folder, "meta.json"), encoding="utf-8") as f:
        size = int(json.load(f)["image"]["size"])
    n = len(_scene_rows(folder))
    out = np.lib.format.open_memmap(out_path, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    del out
    workers = workers or os.cpu_count() or 1
    step = (n + workers - 1) // workers
    with Pool(workers) as pool:
        done = sum(pool.map(_composite_range, [(folder, out_path, s, min(n, s + step)) for s in range(0, n, step)]))
    return done
