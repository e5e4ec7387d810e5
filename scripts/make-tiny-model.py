#!/usr/bin/python3
"""Generate the tiny random-weight model package used by the tests (and, until the
trained model lands, as the embedded default), plus reference values from PyTorch.

    /usr/bin/python3 scripts/make-tiny-model.py --out test/fixtures/tiny-model \
        --reference test/fixtures/tiny-reference.json

The reference file pins, from an independent PyTorch implementation:
  * the generator's logits and new KV entries for fixed inputs (ONNX vs PyTorch);
  * sampled tokens for several settings, produced by a naive full-recompute sampler fed
    the same per-candidate uniform streams as the TypeScript sampler.
CI does not need PyTorch: the outputs are committed as fixtures.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "train"))

import torch  # noqa: E402

from export_generator import export_generator, reference_outputs  # noqa: E402
from gpt import GPT, GPTConfig  # noqa: E402
from package import write_manifest  # noqa: E402
from reference_sampler import reference_generate  # noqa: E402
from wordpiece import write_tokenizer  # noqa: E402

WORDS = ["a", "an", "the", "red", "green", "blue", "yellow", "circle", "square", "triangle", "star", "small", "large",
         "big", "left", "right", "of", "above", "below", "on", "white", "black", "background", "two", "three", ","]

CASES = [
    {"name": "plain", "prompt": "a red circle", "negative": None, "seed": 7, "indices": [0, 1, 2],
     "temperature": 1.0, "topK": 0, "topP": 1.0, "guidanceScale": 1.0},
    {"name": "guided", "prompt": "two blue stars left of a green square on a white background", "negative": None,
     "seed": 42, "indices": [0, 3], "temperature": 0.8, "topK": 20, "topP": 0.9, "guidanceScale": 3.0},
    {"name": "negative", "prompt": "a small yellow triangle", "negative": "a black square", "seed": 5,
     "indices": [1], "temperature": 1.2, "topK": 0, "topP": 0.7, "guidanceScale": 2.0},
    {"name": "greedy", "prompt": "a big star above a circle", "negative": None, "seed": 1, "indices": [0],
     "temperature": 0.0, "topK": 0, "topP": 1.0, "guidanceScale": 1.0},
]


def tokenize(text: str, vocab: dict, length: int, pad_id: int, unk_id: int):
    """What tokenizer.json does (lower-case, split on whitespace and punctuation), then pad/truncate."""
    words = re.findall(r"\w+|[^\w\s]", text.lower())
    ids = [vocab.get(w, unk_id) for w in words][:length]
    return ids + [pad_id] * (length - len(ids))


def run(cmd):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--reference", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generator-only", action="store_true", help="skip the VQ-VAE and CLIP (development)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)
    vocab = write_tokenizer(WORDS, os.path.join(args.out, "tokenizer.json"))
    tokenizer_config = os.path.join(args.out, "tokenizer_config.json")
    if os.path.exists(tokenizer_config):
        os.remove(tokenizer_config)  # the generator's tokenizer is tokenizer.json alone
    pad_id, unk_id = vocab["[PAD]"], vocab["[UNK]"]

    cfg = GPTConfig(text_vocab=len(vocab), image_vocab=64, text_length=12, grid_height=8, grid_width=8,
                    layers=2, heads=2, head_dim=8)
    gpt = GPT(cfg)
    # Spread the random weights so logits differ by O(1): pinned samples then never sit
    # on a float32 rounding boundary between ONNX Runtime and PyTorch.
    with torch.no_grad():
        for p in gpt.parameters():
            if p.dim() > 1:
                p.normal_(0, 0.35)
    gpt.eval()
    export_generator(gpt, args.out)

    if not args.generator_only:
        run([sys.executable, os.path.join(HERE, "train", "export_vqvae.py"), "--random", "--seed", str(args.seed),
             "--tiny", "--out", args.out])
        run([sys.executable, os.path.join(HERE, "train", "export_clip.py"), "--random", "--seed", str(args.seed),
             "--out", os.path.join(args.out, "clip"), "--words", *[w for w in WORDS if w.isalnum()]])

    unconditional = [pad_id] * cfg.text_length
    write_manifest(args.out, name="tiny-random", description="Random weights, for tests only: it draws noise.",
                   gpt_cfg=cfg, image_size=64, pad_id=pad_id, unknown_id=unk_id, unconditional_ids=unconditional,
                   sampling={"candidates": 8, "keep": 2, "temperature": 1.0, "topK": 0, "topP": 1.0,
                             "guidanceScale": 3.0, "previewEvery": 16})

    cases = []
    for case in CASES:
        text_ids = tokenize(case["prompt"], vocab, cfg.text_length, pad_id, unk_id)
        uncond = tokenize(case["negative"], vocab, cfg.text_length, pad_id, unk_id) if case["negative"] else unconditional
        tokens = reference_generate(gpt, text_ids, uncond if case["guidanceScale"] != 1 else None, case["seed"],
                                    case["indices"], case["temperature"], case["topK"], case["topP"],
                                    case["guidanceScale"])
        cases.append({**case, "textIds": text_ids, "unconditionalIds": uncond, "tokens": tokens})
        print(f"case {case['name']}: {tokens[0][:8]}...", flush=True)

    reference = {"graphs": reference_outputs(gpt), "sampling": cases}
    os.makedirs(os.path.dirname(os.path.abspath(args.reference)), exist_ok=True)
    with open(args.reference, "w", encoding="utf-8") as f:
        json.dump(reference, f)
    print(f"wrote {args.out} and {args.reference}")


if __name__ == "__main__":
    main()
