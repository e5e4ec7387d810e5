#!/usr/bin/python3
"""Build a random-weight Janus package with the published I/O of onnx-community's exports
(docs/janus.md), a small byte-level tokenizer with Janus's special tokens, and tokens from
an independent reference loop.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/janus/make_tiny_janus.py \
        --out test/fixtures/tiny-janus --reference test/fixtures/tiny-janus-reference.json
    # the Janus-Pro-1B-shaped package for the benchmark (about 7 GB, not committed; --tie-layers: every
    # layer runs one layer's weights, 1.1 GB, built in minutes instead of most of an hour on 2 shared cores):
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/janus/make_tiny_janus.py --shape pro-1b --out /tmp/janus-pro-1b [--tie-layers]

The reference loop is deepseek-ai/Janus generation_inference.py written again over the
PyTorch modules (not the ONNX graphs): rows interleaved [conditional, unconditional], the
unconditional row the prompt with everything but its first and last id replaced by the
pad id, logits mixed as uncond + s * (cond - uncond), a growing cache. Its draws use
Tessera's per-candidate streams and processors (scripts/train/reference_sampler.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "train"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))

import torch  # noqa: E402

from clip_bpe import bytes_to_unicode  # noqa: E402
from janus_graphs import JanusParts, JanusShape, export_all  # noqa: E402
from package import package_files  # noqa: E402
from reference_sampler import CandidateStream, sample_token  # noqa: E402

SPECIAL = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>", "<|User|>", "<|Assistant|>",
           "<begin_of_image>", "<end_of_image>", "<image_placeholder>"]
BOS, EOS, PAD, _, _, BOI, _, _ = range(256, 256 + len(SPECIAL))
TEMPLATE = "<|User|>: {prompt}\n\n<|Assistant|>:<begin_of_image>"  # generation_inference.py's sft format + image_start_tag

SHAPES = {
    "tiny": dict(hidden=64, layers=2, heads=4, head_dim=16, intermediate=128, text_vocab=256 + len(SPECIAL), image_vocab=256,
                 image_embed=8, grid=8, image_size=32),
    # Janus-Pro-1B (deepseek-ai/Janus-Pro-1B config.json: DeepSeek-LLM 1.5B language model, 16384-code VQ, 24x24 grid).
    "pro-1b": dict(hidden=2048, layers=24, heads=16, head_dim=128, intermediate=5632, text_vocab=102400, image_vocab=16384,
                   image_embed=8, grid=24, image_size=384),
}
TEXT_LENGTH = {"tiny": 48, "pro-1b": 96}

CASES = [
    {"name": "greedy", "prompt": "a red circle", "seed": 1, "indices": [0], "temperature": 0.0, "topK": 0, "topP": 1.0, "guidanceScale": 1.0},
    {"name": "greedy-guided", "prompt": "a red circle", "seed": 1, "indices": [0], "temperature": 0.0, "topK": 0, "topP": 1.0, "guidanceScale": 5.0},
    {"name": "guided", "prompt": "two blue stars above a green square", "seed": 42, "indices": [0, 1, 2], "temperature": 1.0, "topK": 0,
     "topP": 1.0, "guidanceScale": 5.0},
    {"name": "guided-top", "prompt": "a cat", "seed": 7, "indices": [1, 3], "temperature": 0.9, "topK": 40, "topP": 0.9, "guidanceScale": 3.0},
]


def tokenizer_json() -> dict:
    chars = bytes_to_unicode()
    vocab = {chars[b]: b for b in range(256)}
    added = [{"id": 256 + i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
             for i, t in enumerate(SPECIAL)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": SPECIAL[0], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": SPECIAL[0], "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {SPECIAL[0]: {"id": SPECIAL[0], "ids": [BOS], "tokens": [SPECIAL[0]]}}},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }


def encode(prompt: str) -> list:
    """What tokenizer.json does to the formatted prompt: BOS, special tokens whole, every other byte one token (no merges)."""
    text = TEMPLATE.replace("{prompt}", prompt)
    ids = [BOS]
    for part in re.split("(" + "|".join(re.escape(t) for t in SPECIAL) + ")", text):
        ids += [256 + SPECIAL.index(part)] if part in SPECIAL else list(part.encode("utf-8"))
    return ids


@torch.no_grad()
def reference(parts: JanusParts, ids: list, case: dict) -> list:
    """generation_inference.py's loop for the candidates of `case`, one per row pair."""
    s = parts.shape
    guided = case["guidanceScale"] != 1
    rows = []
    for _ in case["indices"]:
        rows.append(list(ids))
        if guided:
            rows.append([ids[0]] + [PAD] * (len(ids) - 2) + [ids[-1]])
    tokens = torch.tensor(rows)
    embeds = parts.prepare(tokens, torch.zeros(len(rows), 0, 3, s.image_size, s.image_size), torch.zeros(tokens.shape, dtype=torch.bool),
                           torch.zeros(len(rows), 0, s.image_tokens, dtype=torch.bool))
    past = [torch.zeros(len(rows), s.heads, 0, s.head_dim) for _ in range(2 * s.layers)]
    streams = [CandidateStream(case["seed"], i) for i in case["indices"]]
    codes = [[] for _ in case["indices"]]
    length = 0
    for _ in range(s.image_tokens):
        n = embeds.shape[1]
        mask = torch.ones(len(rows), length + n, dtype=torch.int64)
        positions = torch.arange(length, length + n)[None].expand(len(rows), n)
        hidden, *past = parts.lm(embeds, mask, positions, *past)
        length += n
        logits = parts.gen_head(hidden[:, -1]).double()  # [rows, image_vocab]
        if guided:
            cond, uncond = logits[0::2], logits[1::2]
            logits = uncond + case["guidanceScale"] * (cond - uncond)
        step = []
        for c, stream in enumerate(streams):
            code = sample_token(logits[c].numpy(), stream.uniform(), case["temperature"], case["topK"], case["topP"])
            codes[c].append(code)
            step += [code, code] if guided else [code]
        embeds = parts.gen_img_embeds(torch.tensor(step)[:, None])
    return codes


def manifest_for(out: str, shape_name: str, s: JanusShape) -> dict:
    t = TEXT_LENGTH[shape_name]
    graphs = {n: f"onnx/{n}.onnx" for n in ("prepare_inputs_embeds", "language_model", "gen_head", "gen_img_embeds", "image_decode")}
    return {
        "format": "tessera-model", "formatVersion": 1, "name": f"janus-{shape_name}-random",
        "description": f"Random weights with the I/O of onnx-community/Janus-Pro-1B-ONNX ({shape_name} shape; scripts/janus/make_tiny_janus.py)",
        "architecture": "janus",
        "text": {"length": t, "vocabSize": s.text_vocab, "tokenizer": "tokenizer.json", "padId": PAD, "unknownId": EOS,
                 "unconditionalIds": [BOS] + [PAD] * (t - 2) + [BOI], "template": TEMPLATE, "unconditional": "keep-ends"},
        "image": {"size": s.image_size, "grid": {"height": s.grid, "width": s.grid}, "vocabSize": s.image_vocab},
        "generator": {"layers": s.layers, "heads": s.heads, "headDim": s.head_dim, "maxLength": t + s.image_tokens,
                      "prefill": graphs["language_model"], "step": graphs["language_model"], "cache": {"keys": "plain", "slots": "filled"}},
        "janus": {"prepareInputsEmbeds": graphs["prepare_inputs_embeds"], "genImgEmbeds": graphs["gen_img_embeds"],
                  "genHead": graphs["gen_head"], "hiddenSize": s.hidden, "imageStartId": BOI},
        "decoder": graphs["image_decode"], "encoder": None, "clip": None,
        "sampling": {"candidates": 4, "keep": 2, "temperature": 1.0, "topK": 0, "topP": 1.0, "guidanceScale": 5.0,
                     "previewEvery": max(1, s.image_tokens // 4)},
        "files": package_files(out),
    }


def hub_configs(out: str, s: JanusShape) -> None:
    """The configuration files of onnx-community's layout, with this shape's figures (src/model/janus-package.ts reads them)."""
    files = {
        "config.json": {"model_type": "multi_modality",
                        "language_config": {"hidden_size": s.hidden, "intermediate_size": s.intermediate, "num_attention_heads": s.heads,
                                            "num_hidden_layers": s.layers, "num_key_value_heads": s.heads, "vocab_size": s.text_vocab},
                        "gen_head_config": {"cls": "vision_head", "params": {"image_token_embed": s.hidden, "image_token_size": s.image_vocab, "n_embed": s.hidden}},
                        "gen_vision_config": {"cls": "VQ-16", "params": {"image_token_size": s.image_vocab, "n_embed": s.image_embed}}},
        "generation_config.json": {"bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "do_sample": True, "num_image_tokens": s.image_tokens},
        "preprocessor_config.json": {"image_size": s.image_size, "image_processor_type": "VLMImageProcessor"},
        "processor_config.json": {"image_tag": "<image_placeholder>", "image_start_tag": "<begin_of_image>", "image_end_tag": "<end_of_image>",
                                  "num_image_tokens": s.image_tokens, "processor_class": "VLChatProcessor"},
    }
    for name, content in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(content, f, indent=2)
            f.write("\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    ap.add_argument("--reference", help="write the reference loop's tokens here (JSON)")
    ap.add_argument("--seed", type=int, default=28)
    ap.add_argument("--tie-layers", action="store_true", help="one layer's weights for every layer (the benchmark on a small machine)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    s = JanusShape(**SHAPES[args.shape])
    parts = JanusParts(s, tied=args.tie_layers).eval()
    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    export_all(parts, os.path.join(args.out, "onnx"), lm_head=args.shape == "tiny")
    if args.shape == "tiny":  # the language model's q4 and q8 files, as the hub has them (variant choice, docs/janus.md)
        for bits in ("4", "8"):
            subprocess.run([sys.executable, os.path.join(HERE, "quantize_janus.py"), os.path.join(args.out, "onnx", "language_model.onnx"),
                            "--bits", bits], check=True)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    hub_configs(args.out, s)
    manifest = manifest_for(args.out, args.shape, s)
    with open(os.path.join(args.out, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write("\n")
    if args.reference:
        cases = []
        for case in CASES:
            ids = encode(case["prompt"])
            cases.append({**case, "ids": ids, "codes": reference(parts, ids, case)})
            print(case["name"], cases[-1]["codes"][0][:12], flush=True)
        with open(args.reference, "w", encoding="utf-8") as f:
            json.dump({"note": "scripts/janus/make_tiny_janus.py: generation_inference.py's loop over the PyTorch modules", "cases": cases}, f)
            f.write("\n")


if __name__ == "__main__":
    main()
