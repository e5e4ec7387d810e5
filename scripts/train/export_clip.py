"""Export Tessera's small CLIP to the transformers.js layout (a model package's `clip/`).

    python3 scripts/train/export_clip.py --ckpt checkpoints/clip --out models/default/clip [--data data/shapes]
    python3 scripts/train/export_clip.py --random --seed 1 --out test/fixtures/tiny/clip [--data data/shapes]

Writes into --out:
  config.json                model_type "clip" + text_config/vision_config/projection_dim,
                             and "tessera": the ClipConfig the weights were built from
  tokenizer.json, tokenizer_config.json   (wordpiece.py; ids identical to training)
  preprocessor_config.json   CLIPImageProcessor, 64x64 (resize/crop are no-ops at 64x64),
                             rescale 1/255, normalise with the model's mean/std
  onnx/text_model.onnx       input_ids int64 [B,L], attention_mask int64 [B,L] -> text_embeds [B,E]
  onnx/vision_model.onnx     pixel_values float32 [B,3,64,64] -> image_embeds [B,E]
  reference.json             PyTorch embeddings of a few captions and images (check-clip.mjs)
Embeddings are un-normalised; the score is their cosine.

--random builds an untrained model (tiny by default) with --seed; its vocabulary comes
from --data's meta.json, or --words, or a small built-in shapes vocabulary.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_model import Clip, ClipConfig, TextExport, VisionExport  # noqa: E402
from wordpiece import build_vocab, write_tokenizer  # noqa: E402

DEFAULT_WORDS = ("a an and of on the left right above below small large big two three four "
                 "red green blue yellow purple orange white black circle circles square squares "
                 "triangle triangles star stars background").split()
TINY = dict(text_width=32, text_layers=1, text_heads=2, vision_channels=[8, 16, 16],
            vision_reduce=8, vision_hidden=32, embed_dim=32)


def hf_config(c: ClipConfig) -> dict:
    return {
        "model_type": "clip",
        "architectures": ["CLIPModel"],
        "projection_dim": c.embed_dim,
        "logit_scale_init_value": 2.6592,
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": c.vocab_size,
            "hidden_size": c.text_width,
            "intermediate_size": 4 * c.text_width,
            "num_hidden_layers": c.text_layers,
            "num_attention_heads": c.text_heads,
            "max_position_embeddings": c.max_length,
            "pad_token_id": c.pad_id,
            "projection_dim": c.embed_dim,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "image_size": c.image_size,
            "num_channels": 3,
            "patch_size": 2 ** len(c.vision_channels),
            "hidden_size": c.vision_hidden,
            "projection_dim": c.embed_dim,
        },
        "tessera": json.loads(c.to_json()),
    }


def preprocessor_config(c: ClipConfig) -> dict:
    return {
        "image_processor_type": "CLIPImageProcessor",
        "feature_extractor_type": "CLIPFeatureExtractor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"shortest_edge": c.image_size},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": c.image_size, "width": c.image_size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": c.image_mean,
        "image_std": c.image_std,
    }


def onnx_export(module, args, path, input_names, output_names, dynamic_axes) -> None:
    kw = {}
    major, minor = (int(x) for x in torch.__version__.split(".")[:2])
    if (major, minor) >= (2, 5):
        kw["dynamo"] = False  # the TorchScript exporter: same graph on torch 1.13 and 2.x
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=torch.jit.TracerWarning)
        torch.onnx.export(module, args, path, input_names=input_names, output_names=output_names,
                          dynamic_axes=dynamic_axes, opset_version=14, do_constant_folding=True, **kw)
    try:
        import onnx
        onnx.checker.check_model(onnx.load(path))
    except ImportError:
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="training folder (config.json, model.fp16.pt or ckpt.pt, vocab.json)")
    ap.add_argument("--out", required=True, help="the clip/ folder to write")
    ap.add_argument("--random", action="store_true", help="untrained model (tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--config", default=None, help="JSON ClipConfig overrides for --random (default: tiny)")
    ap.add_argument("--data", default=None, help="dataset folder: meta.json words (for --random) and reference images")
    ap.add_argument("--words", nargs="*", default=None, help="vocabulary for --random without --data")
    a = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(a.seed)

    meta = {}
    if a.data and os.path.exists(os.path.join(a.data, "meta.json")):
        meta = json.load(open(os.path.join(a.data, "meta.json"), encoding="utf-8"))
    if a.random:
        words = a.words or meta.get("words") or DEFAULT_WORDS
        vocab = build_vocab(words)
        over = dict(TINY)
        over.update(json.loads(a.config) if a.config else {})
        cfg = ClipConfig.from_dict({"vocab_size": len(vocab), **over})
        model = Clip(cfg)
        with torch.no_grad():  # a random model: make the scale of the outputs non-degenerate
            model.logit_scale.fill_(float(np.log(1 / 0.07)))
    else:
        if not a.ckpt:
            raise SystemExit("give --ckpt DIR or --random")
        cfg = ClipConfig.load(os.path.join(a.ckpt, "config.json"))
        vocab = json.load(open(os.path.join(a.ckpt, "vocab.json"), encoding="utf-8"))
        if build_vocab([w for w in vocab if not w.startswith("[")]) != vocab:
            raise SystemExit("vocab.json is not in wordpiece.build_vocab order")
        model = Clip(cfg)
        fp16 = os.path.join(a.ckpt, "model.fp16.pt")
        state = torch.load(fp16, map_location="cpu") if os.path.exists(fp16) else torch.load(os.path.join(a.ckpt, "ckpt.pt"), map_location="cpu")["model"]
        model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval().float()

    out = a.out
    os.makedirs(os.path.join(out, "onnx"), exist_ok=True)
    words = [w for w in vocab if not w.startswith("[")]
    written = write_tokenizer(words, os.path.join(out, "tokenizer.json"), model_max_length=cfg.max_length)
    assert written == vocab, "tokenizer ids differ from the model's"
    json.dump(hf_config(cfg), open(os.path.join(out, "config.json"), "w"), indent=1)
    json.dump(preprocessor_config(cfg), open(os.path.join(out, "preprocessor_config.json"), "w"), indent=1)

    ids = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]], dtype=torch.long) % cfg.vocab_size
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.long)
    onnx_export(TextExport(model), (ids, mask), os.path.join(out, "onnx", "text_model.onnx"),
                ["input_ids", "attention_mask"], ["text_embeds"],
                {"input_ids": {0: "batch_size", 1: "sequence_length"},
                 "attention_mask": {0: "batch_size", 1: "sequence_length"},
                 "text_embeds": {0: "batch_size"}})
    pix = torch.randn(2, 3, cfg.image_size, cfg.image_size)
    onnx_export(VisionExport(model), (pix,), os.path.join(out, "onnx", "vision_model.onnx"),
                ["pixel_values"], ["image_embeds"],
                {"pixel_values": {0: "batch_size"}, "image_embeds": {0: "batch_size"}})

    # reference values from PyTorch: each caption encoded alone (no padding), each image alone
    unk = vocab["[UNK]"]
    captions = ["a red circle", "A small blue square left of a large green triangle",
                "two yellow stars above a purple zebra", "red"]
    rng = np.random.default_rng(a.seed)
    if a.data:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from data import load_shapes
        d = load_shapes(a.data, limit=3)
        images = np.ascontiguousarray(d.images[:3])
        captions = [d.captions[0][0], d.captions[1][0]] + captions
    else:
        images = rng.integers(0, 256, size=(3, cfg.image_size, cfg.image_size, 3), dtype=np.uint8)
    import re
    ref = {"captions": [], "images": []}
    with torch.no_grad():
        for c in captions:
            tid = [vocab.get(t, unk) for t in re.findall(r"\w+|[^\w\s]", c.lower())]
            e = model.text(torch.tensor([tid]), torch.ones(1, len(tid), dtype=torch.long))[0]
            ref["captions"].append({"text": c, "input_ids": tid, "text_embeds": [float(x) for x in e]})
        for im in images:
            e = model.vision(model.normalize_uint8(torch.from_numpy(im).unsqueeze(0)))[0]
            ref["images"].append({"rgb_base64": base64.b64encode(im.tobytes()).decode(), "width": int(im.shape[1]),
                                  "height": int(im.shape[0]), "image_embeds": [float(x) for x in e]})
    json.dump(ref, open(os.path.join(out, "reference.json"), "w"))
    sizes = {f: os.path.getsize(os.path.join(out, "onnx", f)) for f in os.listdir(os.path.join(out, "onnx"))}
    print(f"wrote {out}: vocab {len(vocab)}, embed {cfg.embed_dim}, onnx bytes {sizes}")


if __name__ == "__main__":
    main()
