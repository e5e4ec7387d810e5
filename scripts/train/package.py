"""Assemble a model package folder: write manifest.json with the sha256 of every file.

The manifest is the typed config of docs/model-package.md; src/model/manifest.ts
validates it (unknown keys fail) and verifies every hash on load.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Optional

from gpt import STEP_CACHE


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_files(out_dir: str) -> dict:
    files = {}
    for root, _, names in os.walk(out_dir):
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, out_dir).replace(os.sep, "/")
            if rel == "manifest.json":
                continue
            files[rel] = sha256_file(path)
    return dict(sorted(files.items()))


def write_manifest(out_dir: str, *, name: str, description: str, gpt_cfg, image_size: int, pad_id: int, unknown_id: int,
                   unconditional_ids, sampling: dict, clip: Optional[str] = "clip") -> dict:
    manifest = {
        "format": "tessera-model",
        "formatVersion": 1,
        "name": name,
        "description": description,
        "architecture": "decoder-only",
        "text": {
            "length": gpt_cfg.text_length,
            "vocabSize": gpt_cfg.text_vocab,
            "tokenizer": "tokenizer.json",
            "padId": pad_id,
            "unknownId": unknown_id,
            "unconditionalIds": list(unconditional_ids),
        },
        "image": {
            "size": image_size,
            "grid": {"height": gpt_cfg.grid_height, "width": gpt_cfg.grid_width},
            "vocabSize": gpt_cfg.image_vocab,
        },
        "generator": {
            "layers": gpt_cfg.layers,
            "heads": gpt_cfg.heads,
            "headDim": gpt_cfg.head_dim,
            "maxLength": gpt_cfg.max_length,
            "prefill": "generator/prefill.onnx",
            "step": "generator/step.onnx",
            "cache": dict(STEP_CACHE),
        },
        "decoder": "vae/decoder.onnx",
        "encoder": "vae/encoder.onnx",
        "clip": clip,
        "sampling": sampling,
        "files": package_files(out_dir),
    }
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest
