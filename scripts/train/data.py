"""Shapes-world shards as written by scripts/make-dataset.ts.

A dataset folder holds `images-NNNNN.npy` (uint8 [N, 64, 64, 3]) and
`scenes-NNNNN.jsonl` (one {"captions": [...], "scene": {...}, "spec": {...}} per line),
plus `meta.json`. Shards are read whole with numpy (memory-mapped), which is the
cheapest way to feed small images to PyTorch without a decoding step.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from typing import List

import numpy as np


@dataclass
class ShapesData:
    images: np.ndarray          # [N, 64, 64, 3] uint8
    captions: List[List[str]]   # N lists of caption variants
    scenes: List[dict]
    meta: dict


def load_shapes(folder: str, limit: int | None = None) -> ShapesData:
    image_files = sorted(glob.glob(os.path.join(folder, "images-*.npy")))
    if not image_files and os.path.exists(os.path.join(folder, "sprites.npy")):
        from objects_data import load_atlas_scenes  # objects world: composite scenes from its sprite atlas

        return ShapesData(*load_atlas_scenes(folder, limit))
    if not image_files:
        raise SystemExit(f"no images-*.npy shards in {folder}: run `npx tsx scripts/make-dataset.ts --out {folder}` first")
    images, captions, scenes = [], [], []
    total = 0
    for image_file in image_files:
        scene_file = image_file.replace("images-", "scenes-").replace(".npy", ".jsonl")
        shard = np.load(image_file, mmap_mode="r")
        with open(scene_file, encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        if len(rows) != shard.shape[0]:
            raise SystemExit(f"{scene_file}: {len(rows)} scenes but {shard.shape[0]} images")
        images.append(np.asarray(shard))
        captions.extend(r["captions"] for r in rows)
        scenes.extend(r["scene"] for r in rows)
        total += shard.shape[0]
        if limit is not None and total >= limit:
            break
    all_images = np.concatenate(images, axis=0)
    meta_path = os.path.join(folder, "meta.json")
    meta = json.load(open(meta_path, encoding="utf-8")) if os.path.exists(meta_path) else {}
    if limit is not None:
        all_images, captions, scenes = all_images[:limit], captions[:limit], scenes[:limit]
    return ShapesData(all_images, captions, scenes, meta)
