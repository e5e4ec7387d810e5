"""Write a tiny random-weight CLIP of the real ViT-B/32 architecture in transformers.js's layout.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/make-tiny-clip.py --out test/fixtures/tiny-clip [--seed 7]
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 scripts/make-tiny-clip.py --shape b32 --out /tmp/clip-b32  # ViT-B/32 sizes

The folder has the file names of the published `Xenova/clip-vit-base-patch32`:
  config.json                model_type "clip", text_config/vision_config with the real keys
  tokenizer.json             CLIP's byte-level BPE (NFC + whitespace + lowercase normaliser,
                             CLIP's split regex + ByteLevel pre-tokeniser, BPE with "</w>"
                             word ends, RobertaProcessing adding <|startoftext|>/<|endoftext|>),
                             with a tiny vocabulary learnt from a word list
  tokenizer_config.json, preprocessor_config.json (224 shortest edge, 224x224 centre crop,
                             bicubic, 1/255, CLIP's mean/std)
  onnx/text_model.onnx       input_ids, attention_mask [B,T] -> text_embeds [B,P], last_hidden_state
  onnx/vision_model.onnx     pixel_values [B,3,224,224] -> image_embeds [B,P], last_hidden_state
  reference.json             PyTorch outputs on fixed inputs (ids from this script's own BPE
                             encoder; pixels from a formula the tests recompute)

Only the widths and depths are shrunk: patch 32 on 224x224 (7x7 patches + class token),
pre-LN encoder layers with quick_gelu, causal text attention, pooling at the EOS token
(argmax of the ids, as the original CLIP: <|endoftext|> has the largest id).
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_bpe import BOS, EOS, build_vocab, encode, learn_merges, tokenizer_json  # noqa: E402

# (width, layers, heads) of each tower and the projection: the committed fixture ("tiny"), and
# ViT-B/32's own ("b32", for timing the reranker at the published size; not committed).
SHAPES = {
    "tiny": {"vision": (32, 2, 4), "text": (32, 2, 4), "projection": 16},
    "b32": {"vision": (768, 12, 12), "text": (512, 12, 8), "projection": 512},
}
IMAGE, PATCH, CONTEXT = 224, 32, 77
MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]
WORDS = ("a an and of on the left right above below small large big two three four red green blue yellow "
         "purple orange white black circle circles square squares triangle triangles star stars background "
         "photo cat dog painting").split()
CAPTIONS = ["a red circle", "Two blue squares on the LEFT!", "a photo of a cat", "zebra's 42 stripes"]



# ---------------------------------------------------------------- model
def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(1.702 * x)


class Attention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(width, width) for _ in range(4))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, t, w = x.shape
        d = w // self.heads
        split = lambda y: y.reshape(b, t, self.heads, d).transpose(1, 2)  # noqa: E731  [B, heads, T, d]
        q, k, v = split(self.q_proj(x) * d ** -0.5), split(self.k_proj(x)), split(self.v_proj(x))
        scores = q @ k.transpose(-1, -2)  # [B, heads, T, T]
        if mask is not None:
            scores = scores + mask
        out = scores.softmax(-1) @ v  # [B, heads, T, d]
        return self.out_proj(out.transpose(1, 2).reshape(b, t, w))


class EncoderLayer(nn.Module):
    """Pre-LN: x + attn(ln1(x)), then x + fc2(quick_gelu(fc1(ln2(x))))."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.layer_norm1, self.layer_norm2 = nn.LayerNorm(width, eps=1e-5), nn.LayerNorm(width, eps=1e-5)
        self.self_attn = Attention(width, heads)
        self.fc1, self.fc2 = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x), mask)
        return x + self.fc2(quick_gelu(self.fc1(self.layer_norm2(x))))


class VisionModel(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, projection: int):
        super().__init__()
        self.width = width
        self.patch_embedding = nn.Conv2d(3, width, PATCH, stride=PATCH, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width))
        self.position_embedding = nn.Embedding((IMAGE // PATCH) ** 2 + 1, width)
        self.pre_layrnorm, self.post_layernorm = nn.LayerNorm(width, eps=1e-5), nn.LayerNorm(width, eps=1e-5)
        self.layers = nn.ModuleList(EncoderLayer(width, heads) for _ in range(layers))
        self.visual_projection = nn.Linear(width, projection, bias=False)

    def forward(self, pixel_values: torch.Tensor):
        patches = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)  # [B, 49, W]
        cls = self.class_embedding.expand(patches.shape[0], 1, self.width)  # [B, 1, W]
        x = torch.cat([cls, patches], 1) + self.position_embedding.weight  # [B, 50, W]
        x = self.pre_layrnorm(x)
        for layer in self.layers:
            x = layer(x, None)
        pooled = self.post_layernorm(x[:, 0])  # [B, W]: the class token
        return self.visual_projection(pooled), x


class TextModel(nn.Module):
    def __init__(self, vocab_size: int, width: int, layers: int, heads: int, projection: int):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(CONTEXT, width)
        self.layers = nn.ModuleList(EncoderLayer(width, heads) for _ in range(layers))
        self.final_layer_norm = nn.LayerNorm(width, eps=1e-5)
        self.text_projection = nn.Linear(width, projection, bias=False)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        t = input_ids.shape[1]
        positions = torch.arange(t)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)  # [B, T, W]
        # A large finite negative, not -inf: a fully masked row must not give NaN.
        causal = (positions[None, :] > positions[:, None]).float() * -1e9  # [T, T]
        padding = (1.0 - attention_mask[:, None, None, :].float()) * -1e9  # [B, 1, 1, T]
        mask = causal[None, None] + padding  # [B, 1, T, T]
        for layer in self.layers:
            x = layer(x, mask)
        x = self.final_layer_norm(x)
        # EOS pooling as the original CLIP: <|endoftext|> has the largest id.
        pooled = x[torch.arange(x.shape[0]), input_ids.argmax(-1)]  # [B, W]
        return self.text_projection(pooled), x


def randomise(module: nn.Module, generator: torch.Generator) -> None:
    """Random weights everywhere, LayerNorms included (so that each parameter matters)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name:
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.1 * torch.randn(p.shape, generator=generator))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=generator) * (10 if "embedding" in name and "patch" not in name else 1))


def reference_pixels(n: int) -> np.ndarray:
    """pixel_values[i] = sin(0.001 * i + 0.5 * image) * 2 over the flat index i of each image (tests recompute it)."""
    i = np.arange(3 * IMAGE * IMAGE, dtype=np.float64)
    return np.stack([np.sin(0.001 * i + 0.5 * k) * 2 for k in range(n)]).reshape(n, 3, IMAGE, IMAGE).astype(np.float32)


# ---------------------------------------------------------------- files
def configs(vocab: dict[str, int], shape: dict) -> tuple[dict, dict, dict]:
    def tower(name: str) -> dict:
        width, layers, heads = shape[name]
        return dict(hidden_size=width, intermediate_size=4 * width, projection_dim=shape["projection"], num_hidden_layers=layers,
                    num_attention_heads=heads, hidden_act="quick_gelu", layer_norm_eps=1e-5, attention_dropout=0.0,
                    dropout=0.0, initializer_range=0.02, initializer_factor=1.0)
    config = {
        "_name_or_path": "tessera/tiny-random-clip", "architectures": ["CLIPModel"], "model_type": "clip",
        "initializer_factor": 1.0, "logit_scale_init_value": 2.6592, "projection_dim": shape["projection"],
        "text_config": {**tower("text"), "model_type": "clip_text_model", "vocab_size": len(vocab),
                        "max_position_embeddings": CONTEXT, "bos_token_id": vocab[BOS], "eos_token_id": vocab[EOS],
                        "pad_token_id": vocab[EOS]},
        "vision_config": {**tower("vision"), "model_type": "clip_vision_model", "image_size": IMAGE, "patch_size": PATCH,
                          "num_channels": 3},
    }
    tok_config = {"add_prefix_space": False, "bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS,
                  "clean_up_tokenization_spaces": True, "do_lower_case": True, "errors": "replace",
                  "model_max_length": CONTEXT, "tokenizer_class": "CLIPTokenizer"}
    preprocessor = {"image_processor_type": "CLIPImageProcessor", "feature_extractor_type": "CLIPFeatureExtractor",
                    "do_convert_rgb": True, "do_resize": True, "size": {"shortest_edge": IMAGE}, "resample": 3,
                    "do_center_crop": True, "crop_size": {"height": IMAGE, "width": IMAGE}, "do_rescale": True,
                    "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": MEAN, "image_std": STD}
    return config, tok_config, preprocessor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    merges = learn_merges(WORDS, 120)
    vocab = build_vocab(merges)
    shape = SHAPES[args.shape]
    text = TextModel(len(vocab), *shape["text"], shape["projection"]).eval()
    vision = VisionModel(*shape["vision"], shape["projection"]).eval()
    randomise(text, generator)
    randomise(vision, generator)

    os.makedirs(os.path.join(args.out, "onnx"), exist_ok=True)
    write = lambda name, value: open(os.path.join(args.out, name), "w").write(json.dumps(value, indent=1, ensure_ascii=False) + "\n")  # noqa: E731
    config, tok_config, preprocessor = configs(vocab, shape)
    write("config.json", config)
    write("tokenizer.json", tokenizer_json(vocab, merges))
    write("tokenizer_config.json", tok_config)
    write("preprocessor_config.json", preprocessor)

    ids = [encode(c, vocab, merges) for c in CAPTIONS]
    length = max(map(len, ids))
    # Padded with <|endoftext|>, as transformers.js pads with the pad token (= EOS for CLIP).
    input_ids = torch.tensor([row + [vocab[EOS]] * (length - len(row)) for row in ids])  # [B, T]
    attention_mask = torch.tensor([[1] * len(row) + [0] * (length - len(row)) for row in ids])  # [B, T]
    pixels = torch.from_numpy(reference_pixels(2))  # [2, 3, 224, 224]
    with torch.no_grad():
        text_embeds, _ = text(input_ids, attention_mask)
        image_embeds, _ = vision(pixels)
        torch.onnx.export(text, (input_ids, attention_mask), os.path.join(args.out, "onnx", "text_model.onnx"),
                          input_names=["input_ids", "attention_mask"], output_names=["text_embeds", "last_hidden_state"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                                        "text_embeds": {0: "batch"}, "last_hidden_state": {0: "batch", 1: "sequence"}},
                          opset_version=14)
        torch.onnx.export(vision, (pixels,), os.path.join(args.out, "onnx", "vision_model.onnx"),
                          input_names=["pixel_values"], output_names=["image_embeds", "last_hidden_state"],
                          dynamic_axes={"pixel_values": {0: "batch"}, "image_embeds": {0: "batch"}, "last_hidden_state": {0: "batch"}},
                          opset_version=14)
    write("reference.json", {
        "note": "PyTorch outputs of scripts/make-tiny-clip.py; pixels: sin(0.001 * i + 0.5 * image) * 2 over each image's flat index",
        "captions": [{"text": c, "ids": row} for c, row in zip(CAPTIONS, ids)],
        "input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist(),
        "text_embeds": [[round(v, 7) for v in row] for row in text_embeds.tolist()],
        "images": 2,
        "image_embeds": [[round(v, 7) for v in row] for row in image_embeds.tolist()],
    })


if __name__ == "__main__":
    main()
