"""Tessera's generator: a decoder-only transformer over one stream [text | image].

As in DALL·E (Ramesh et al. 2021) the text and image tokens share one combined
vocabulary (text ids first, image code k at text_vocab + k) and one causal
transformer; the text is padded to a fixed length so every image token has a fixed
position. The config is a typed object saved beside the weights (nanoGPT's GPTConfig);
unknown keys fail loudly.

The two export wrappers at the bottom are the ONNX contract of docs/model-package.md:
a prefill graph over the text, and a step graph over fixed per-row KV slots that returns
only the new step's keys and values.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# Finite, so a fully masked row still softmaxes to numbers (never NaN); far enough
# below any real score that exp() underflows to 0 in float32.
MASK_VALUE = -1e4


@dataclass
class GPTConfig:
    text_vocab: int
    image_vocab: int
    text_length: int
    grid_height: int
    grid_width: int
    layers: int = 4
    heads: int = 4
    head_dim: int = 32
    dropout: float = 0.0

    @property
    def vocab(self) -> int:
        return self.text_vocab + self.image_vocab

    @property
    def image_length(self) -> int:
        return self.grid_height * self.grid_width

    @property
    def max_length(self) -> int:
        # Slots per row: the last image token is never fed back, but one spare slot
        # keeps the arithmetic simple and costs nothing measurable.
        return self.text_length + self.image_length

    @property
    def width(self) -> int:
        return self.heads * self.head_dim

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "GPTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown GPTConfig keys: {unknown}; allowed: {sorted(known)}")
        return cls(**data)

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_json(), f, indent=2)

    @classmethod
    def load(cls, path: str) -> "GPTConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_json(json.load(f))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.heads, self.head_dim = cfg.heads, cfg.head_dim
        self.ln1 = nn.LayerNorm(cfg.width)
        self.qkv = nn.Linear(cfg.width, 3 * cfg.width)
        self.proj = nn.Linear(cfg.width, cfg.width)
        self.ln2 = nn.LayerNorm(cfg.width)
        self.mlp = nn.Sequential(nn.Linear(cfg.width, 4 * cfg.width), nn.GELU(), nn.Linear(4 * cfg.width, cfg.width))
        self.drop = nn.Dropout(cfg.dropout)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.heads, self.head_dim).transpose(1, 2)  # [B, H, n, D]

    def qkv_heads(self, x: torch.Tensor):
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        return self.split_heads(q), self.split_heads(k), self.split_heads(v)

    def merge(self, x: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        b, _, n, _ = attended.shape
        attended = attended.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        x = x + self.drop(self.proj(attended))
        return x + self.drop(self.mlp(self.ln2(x)))

    def forward(self, x: torch.Tensor, causal_bias: torch.Tensor):
        """Full causal attention; returns (output, keys, values) so prefill can keep the cache."""
        q, k, v = self.qkv_heads(x)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + causal_bias  # [B, H, n, n]
        attended = F.softmax(scores, dim=-1) @ v  # [B, H, n, D]
        return self.merge(x, attended), k, v

    def step(self, x, mask_bias, past_k, past_v):
        """One token per row against per-row slots: x [R,W], past_k and past_v [R,H,C,D],
        mask_bias [R,1,1,C]. C is the number of slots the caller passes: the graph's slot
        axis is dynamic, so Tessera passes only the slots filled so far (rounded up), not
        all maxLength of them (issue 12: attention read every slot every step before).

        Keys are plain [R,H,C,D], like values: the score product's transpose is fused into
        the MatMul by onnxruntime (FusedMatMul transB, measured as fast as pre-transposed
        keys), and a step's new key is then one contiguous write per (row, head) instead of
        D strided ones (4 ms of JS per step at 128 rows before).

        Heads are split and merged by constant reshapes (rows as -1): with one token per row
        no transpose moves data, and the exported step graph carries no Shape/Gather/Concat
        chains computing view sizes (about 160 small ops per step before; issue 12)."""
        h, d = self.heads, self.head_dim
        qkv = self.qkv(self.ln1(x)).split(h * d, dim=-1)  # 3 x [R, W]: one Split op
        q, k, v = (t.reshape(-1, h, 1, d) for t in qkv)  # [R, H, 1, D]
        scale = 1.0 / math.sqrt(d)
        past_scores = (q @ past_k.transpose(-1, -2)) * scale + mask_bias  # [R, H, 1, C]
        self_score = (q * k).sum(-1, keepdim=True) * scale  # [R, H, 1, 1]
        weights = F.softmax(torch.cat([past_scores, self_score], dim=-1), dim=-1)  # [R, H, 1, C+1]
        attended = weights[..., :-1] @ past_v + weights[..., -1:] * v  # [R, H, 1, D]
        x = x + self.drop(self.proj(attended.reshape(-1, h * d)))  # [R, W]
        return x + self.drop(self.mlp(self.ln2(x))), k, v


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.cfg = cfg
        self.token_embedding = nn.Embedding(cfg.vocab, cfg.width)
        self.position_embedding = nn.Embedding(cfg.max_length, cfg.width)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.layers)])
        self.ln_f = nn.LayerNorm(cfg.width)
        self.head = nn.Linear(cfg.width, cfg.vocab, bias=False)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def causal_bias(self, n: int, device) -> torch.Tensor:
        allowed = torch.ones(n, n, device=device).tril()
        return (1.0 - allowed) * MASK_VALUE  # [n, n]

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids [B, n] (combined vocabulary) -> logits [B, n, V]."""
        x, _, _ = self.forward_with_cache(ids)
        return self.head(self.ln_f(x))

    def forward_with_cache(self, ids: torch.Tensor):
        n = ids.shape[1]
        positions = torch.arange(n, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)[None]
        bias = self.causal_bias(n, ids.device)
        keys, values = [], []
        for block in self.blocks:
            x, k, v = block(x, bias)
            keys.append(k)
            values.append(v)
        return x, keys, values


class PrefillGraph(nn.Module):
    """input_ids [P, T] -> logits [P, V] at the last text position, present keys/values [L, P, H, T, D]."""

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids: torch.Tensor):
        x, keys, values = self.gpt.forward_with_cache(input_ids)
        logits = self.gpt.head(self.gpt.ln_f(x[:, -1]))  # [P, V]
        return logits, torch.stack(keys), torch.stack(values)


class StepGraph(nn.Module):
    """One decode step over fixed per-row slots; returns only the new keys/values.

    Inputs: input_ids [R,1], position_ids [R,1], attention_mask [R,C], then per layer l
    past_key_l and past_value_l [R,H,C,D], C <= max_length (the manifest's
    generator.cache = {keys: "plain", slots: "filled"}). One tensor per layer means the
    graph never slices (copies) a layer out of a stacked cache.
    """

    def __init__(self, gpt: GPT):
        super().__init__()
        self.gpt = gpt

    def forward(self, input_ids, position_ids, attention_mask, *past):
        gpt = self.gpt
        layers = len(gpt.blocks)
        # Rows as 2-D [R, W] throughout: onnxruntime then fuses each Linear's MatMul and
        # bias Add into one Gemm (it does not for [R, 1, W]).
        x = gpt.token_embedding(input_ids.reshape(-1)) + gpt.position_embedding(position_ids.reshape(-1))  # [R, W]
        mask_bias = ((1.0 - attention_mask) * MASK_VALUE)[:, None, None, :]  # [R, 1, 1, S]
        new_keys, new_values = [], []
        for layer, block in enumerate(gpt.blocks):
            x, k, v = block.step(x, mask_bias, past[layer], past[layers + layer])
            new_keys.append(k)
            new_values.append(v)
        logits = gpt.head(gpt.ln_f(x))  # [R, V]
        return logits, torch.stack(new_keys), torch.stack(new_values)


def step_input_names(layers: int):
    return (["input_ids", "position_ids", "attention_mask"] + [f"past_key_{l}" for l in range(layers)]
            + [f"past_value_{l}" for l in range(layers)])


def step_dynamic_axes(layers: int) -> dict:
    """Rows and slots are dynamic: a step may pass any number of slots up to max_length."""
    dynamic = {name: {0: "rows", 2: "slots"} for name in step_input_names(layers)[3:]}
    dynamic.update({"input_ids": {0: "rows"}, "position_ids": {0: "rows"}, "attention_mask": {0: "rows", 1: "slots"},
                    "logits": {0: "rows"}, "new_keys": {1: "rows"}, "new_values": {1: "rows"}})
    return dynamic


# The step graph's cache contract, written to the manifest's generator.cache.
STEP_CACHE = {"keys": "plain", "slots": "filled"}


def split_past(past_keys: torch.Tensor, past_values: torch.Tensor):
    """Stacked [L,R,H,S,D] caches -> the step graph's per-layer inputs."""
    keys = [past_keys[l].contiguous() for l in range(past_keys.shape[0])]
    values = [past_values[l].contiguous() for l in range(past_values.shape[0])]
    return keys + values
