"""Tessera's small CLIP: a word-token transformer and a 64x64 CNN projected to one space.

Text encoder: token + position embeddings, a learned [CLS] query vector prepended
*inside the model* (so the tokenizer stays special-token-free: the caller passes just
the word ids and attention mask), pre-LN attention blocks written by hand (finite
additive mask -1e4, ONNX-exportable on torch 1.13 and 2.x), then the [CLS] output is
projected. Why [CLS] rather than a masked mean: the captions' meaning is in word
*bindings* ("red circle left of blue square" vs "blue circle left of red square" have
the same bag of words); an attention-pooled query can weigh the structure, a mean
tends to blur it.

Vision encoder: three stride-2 conv stages (64 -> 8), GroupNorm + GELU, then the 8x8
map is flattened (keeping *where* things are, which left/right/above/below need; a
global average pool would throw it away) into an MLP and projected.

Both embeddings are returned un-normalised (as Hugging Face CLIP's text_embeds /
image_embeds); scores are cosine similarities.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class ClipConfig:
    vocab_size: int
    max_length: int = 16           # word tokens (the [CLS] query is extra, internal)
    pad_id: int = 0
    text_width: int = 128
    text_layers: int = 3
    text_heads: int = 4
    image_size: int = 64
    vision_channels: List[int] = field(default_factory=lambda: [32, 64, 128])
    vision_reduce: int = 32        # channels of the 8x8 map before flattening
    vision_hidden: int = 256
    embed_dim: int = 128
    image_mean: List[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    image_std: List[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @staticmethod
    def from_dict(d: dict) -> "ClipConfig":
        names = {f.name for f in dataclasses.fields(ClipConfig)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown ClipConfig keys: {unknown}")
        return ClipConfig(**d)

    @staticmethod
    def load(path: str) -> "ClipConfig":
        with open(path, encoding="utf-8") as f:
            return ClipConfig.from_dict(json.load(f))

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.to_json() + "\n")


class Block(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.head_dim = width // heads
        self.scale = 1.0 / math.sqrt(width // heads)
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        # x [B, L, W]; bias [B, 1, 1, L] additive (0 or -1e4)
        b, l = x.shape[0], x.shape[1]   # traced as dynamic sizes (never converted to Python ints)
        h, d = self.heads, self.head_dim
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q = q.reshape(b, l, h, d).transpose(1, 2)
        k = k.reshape(b, l, h, d).transpose(1, 2)
        v = v.reshape(b, l, h, d).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-1, -2)) * self.scale + bias
        att = att.softmax(dim=-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(b, l, h * d)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x))


class TextEncoder(nn.Module):
    def __init__(self, c: ClipConfig):
        super().__init__()
        self.tok = nn.Embedding(c.vocab_size, c.text_width)
        self.pos = nn.Parameter(torch.randn(c.max_length + 1, c.text_width) * 0.02)
        self.cls = nn.Parameter(torch.randn(c.text_width) * 0.02)
        self.blocks = nn.ModuleList([Block(c.text_width, c.text_heads) for _ in range(c.text_layers)])
        self.ln = nn.LayerNorm(c.text_width)
        self.proj = nn.Linear(c.text_width, c.embed_dim, bias=False)
        nn.init.normal_(self.tok.weight, std=0.02)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        b, l = input_ids.shape
        x = self.tok(input_ids)
        cls = self.cls.reshape(1, 1, -1).expand(b, 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.pos[: l + 1].unsqueeze(0)
        keep = torch.cat([torch.ones_like(attention_mask[:, :1]), attention_mask], dim=1)
        bias = ((1.0 - keep.to(x.dtype)) * -1e4).reshape(b, 1, 1, l + 1)
        for blk in self.blocks:
            x = blk(x, bias)
        return self.proj(self.ln(x[:, 0]))


class GroupNorm(nn.Module):
    """nn.GroupNorm's maths and parameter names, written out: torch 1.13's F.group_norm
    checks sizes with Python bools, which raises a TracerWarning during ONNX export."""

    def __init__(self, groups: int, channels: int, eps: float = 1e-5):
        super().__init__()
        self.groups, self.eps = groups, eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing():
            return F.group_norm(x, self.groups, self.weight, self.bias, self.eps)
        y = x.reshape(x.shape[0], self.groups, -1)
        mean = y.mean(-1, keepdim=True)
        var = (y - mean).pow(2).mean(-1, keepdim=True)
        y = ((y - mean) * torch.rsqrt(var + self.eps)).reshape(x.shape)
        return y * self.weight.reshape(1, -1, 1, 1) + self.bias.reshape(1, -1, 1, 1)


def _stage(cin: int, cout: int) -> nn.Sequential:
    g = lambda ch: GroupNorm(min(8, ch), ch)
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1), g(cout), nn.GELU(),
        nn.Conv2d(cout, cout, 3, padding=1), g(cout), nn.GELU(),
    )


class VisionEncoder(nn.Module):
    def __init__(self, c: ClipConfig):
        super().__init__()
        ch = c.vision_channels
        self.stem = nn.Sequential(nn.Conv2d(3, ch[0], 3, padding=1), nn.GELU())
        stages, cin = [], ch[0]
        for cout in ch:
            stages.append(_stage(cin, cout))
            cin = cout
        self.stages = nn.Sequential(*stages)
        side = c.image_size // (2 ** len(ch))
        self.reduce = nn.Conv2d(cin, c.vision_reduce, 1)
        self.head = nn.Sequential(
            nn.Linear(c.vision_reduce * side * side, c.vision_hidden), nn.GELU(),
            nn.LayerNorm(c.vision_hidden), nn.Linear(c.vision_hidden, c.embed_dim, bias=False),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        x = self.reduce(self.stages(self.stem(pixel_values)))
        return self.head(x.flatten(1))


class Clip(nn.Module):
    def __init__(self, c: ClipConfig):
        super().__init__()
        self.config = c
        self.text = TextEncoder(c)
        self.vision = VisionEncoder(c)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("mean", torch.tensor(c.image_mean).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(c.image_std).reshape(1, 3, 1, 1), persistent=False)

    def normalize_uint8(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B,H,W,3] -> normalised float [B,3,H,W] (exactly what the image processor does)."""
        x = images.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        return (x - self.mean) / self.std

    def encode_text(self, ids, mask):
        return self.text(ids, mask)

    def encode_image(self, pixel_values):
        return self.vision(pixel_values)


class TextExport(nn.Module):
    def __init__(self, m: Clip):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask):
        return self.m.text(input_ids, attention_mask)


class VisionExport(nn.Module):
    def __init__(self, m: Clip):
        super().__init__()
        self.m = m

    def forward(self, pixel_values):
        return self.m.vision(pixel_values)
