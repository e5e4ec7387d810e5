"""Export trained checkpoints into a model package (docs/model-package.md).

    /usr/bin/python3 scripts/train/build_package.py --ckpt checkpoints --out models/default \
        --name tessera-shapes-v1

--ckpt holds vqvae/ (config.json, weights.pt), generator/ (config.json, weights.pt,
vocab.json) and clip/ (config.json, model.fp16.pt, vocab.json), as written by the
training scripts. Each graph is exported with torch 1.13's exporter and checked.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

from export_generator import export_generator  # noqa: E402
from gpt import GPT, GPTConfig  # noqa: E402
from package import write_manifest  # noqa: E402
from wordpiece import write_tokenizer  # noqa: E402

# Guidance 1 (none) was chosen by measurement: with 32 candidates and CLIP reranking it
# gave the best top-1 and kept-4 exact-match rates at half the rows (docs/model-card.md).
DEFAULT_SAMPLING = {"candidates": 32, "keep": 4, "temperature": 1.0, "topK": 0, "topP": 1.0,
                    "guidanceScale": 1.0, "previewEvery": 8}


def load_generator(folder: str) -> GPT:
    cfg = GPTConfig.load(os.path.join(folder, "config.json"))
    gpt = GPT(cfg)
    state = torch.load(os.path.join(folder, "weights.pt"), map_location="cpu")
    gpt.load_state_dict({k: v.float() for k, v in state.items()})
    return gpt.eval()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", default="checkpoints")
    ap.add_argument("--out", default="models/default")
    ap.add_argument("--name", default="tessera-shapes-v1")
    ap.add_argument("--description", default="Tessera's embedded model, trained on the shapes world "
                                              "(see docs/model-card.md).")
    ap.add_argument("--sampling", default=None, help="JSON overrides of the default sampling settings")
    args = ap.parse_args()
    torch.set_num_threads(2)

    if os.path.exists(args.out):
        shutil.rmtree(args.out)
    os.makedirs(args.out)

    generator_dir = os.path.join(args.ckpt, "generator")
    gpt = load_generator(generator_dir)
    export_generator(gpt, args.out)
    vocab = json.load(open(os.path.join(generator_dir, "vocab.json"), encoding="utf-8"))["vocab"]
    words = [w for w in vocab if not (w.startswith("[") and w.endswith("]"))]
    written = write_tokenizer(words, os.path.join(args.out, "tokenizer.json"), model_max_length=gpt.cfg.text_length)
    if written != vocab:
        raise SystemExit("the tokenizer's ids differ from the ids the generator was trained with")
    os.remove(os.path.join(args.out, "tokenizer_config.json"))  # the generator's tokenizer is tokenizer.json alone

    subprocess.run([sys.executable, os.path.join(HERE, "export_vqvae.py"), "--ckpt", os.path.join(args.ckpt, "vqvae"),
                    "--out", args.out], check=True)
    subprocess.run([sys.executable, os.path.join(HERE, "export_clip.py"), "--ckpt", os.path.join(args.ckpt, "clip"),
                    "--out", os.path.join(args.out, "clip")], check=True)

    sampling = dict(DEFAULT_SAMPLING)
    sampling.update(json.loads(args.sampling) if args.sampling else {})
    manifest = write_manifest(args.out, name=args.name, description=args.description, gpt_cfg=gpt.cfg,
                              image_size=json.load(open(os.path.join(args.ckpt, "vqvae", "config.json")))["image_size"],
                              pad_id=vocab["[PAD]"], unknown_id=vocab["[UNK]"],
                              unconditional_ids=[vocab["[PAD]"]] * gpt.cfg.text_length, sampling=sampling)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in manifest["files"])
    print(f"wrote {args.out}: {len(manifest['files'])} files, {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
