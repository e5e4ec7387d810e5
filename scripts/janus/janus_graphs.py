"""Random-weight stand-ins for the six graphs of onnx-community's Janus exports, with the
I/O transformers.js runs them by (docs/janus.md: names, dtypes, symbolic axes, cache).

The language model is a small Llama (RMSNorm, RoPE, SiLU MLP), as Janus-Pro's is;
gen_img_embeds and gen_head follow Janus's gen_embed + gen_aligner and gen_head; the
image decoder is a codebook lookup, a 1x1 conv, nearest upsampling and a 3x3 conv (the
real one is a VQGAN decoder: only its I/O matters here). prepare_inputs_embeds embeds text;
its image inputs (pixel_values, the two masks) are taken as published but Tessera feeds
zero images (text-to-image never has any), so the stand-in only zeroes embeddings at
masked positions and folds the image tensors in as sums.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

MASKED = -1e9  # finite: torch 1.13's export and onnxruntime agree on it (GUIDE, "Pitfalls")


@dataclass
class JanusShape:
    hidden: int
    layers: int
    heads: int
    head_dim: int
    intermediate: int
    text_vocab: int
    image_vocab: int
    image_embed: int  # gen_embed width (8 in Janus-Pro) and the VQ codebook's
    grid: int  # image tokens per side
    image_size: int
    rope_theta: float = 10000.0

    @property
    def image_tokens(self) -> int:
        return self.grid * self.grid


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(1 + 0.1 * torch.randn(width))
        self.eps = eps

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)


def rotate(x, positions, theta: float):
    """RoPE over the last axis of x [B, H, S, D] at positions [B, S] (the halves layout Llama uses)."""
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    freqs = positions.to(torch.float32)[..., None] * inv  # [B, S, D/2]
    emb = torch.cat([freqs, freqs], dim=-1)[:, None]  # [B, 1, S, D]
    half = d // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * emb.cos() + rotated * emb.sin()


class Layer(nn.Module):
    def __init__(self, s: JanusShape):
        super().__init__()
        w = s.heads * s.head_dim
        self.s = s
        self.norm1, self.norm2 = RMSNorm(s.hidden), RMSNorm(s.hidden)
        self.q, self.k, self.v = (nn.Linear(s.hidden, w, bias=False) for _ in range(3))
        self.o = nn.Linear(w, s.hidden, bias=False)
        self.gate, self.up = nn.Linear(s.hidden, s.intermediate, bias=False), nn.Linear(s.hidden, s.intermediate, bias=False)
        self.down = nn.Linear(s.intermediate, s.hidden, bias=False)

    def forward(self, x, allowed, positions, past_k, past_v):
        s = self.s
        b, n, _ = x.shape
        h = self.norm1(x)
        split = lambda t: t.view(b, n, s.heads, s.head_dim).transpose(1, 2)  # [B, H, S, D]
        q = rotate(split(self.q(h)), positions, s.rope_theta)
        k = torch.cat([past_k, rotate(split(self.k(h)), positions, s.rope_theta)], dim=2)  # [B, H, past+S, D]
        v = torch.cat([past_v, split(self.v(h))], dim=2)
        scores = q @ k.transpose(2, 3) / math.sqrt(s.head_dim)  # [B, H, S, past+S]
        scores = torch.where(allowed, scores, torch.full_like(scores, MASKED))
        attended = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, s.heads * s.head_dim)
        x = x + self.o(attended)
        h = self.norm2(x)
        return x + self.down(nn.functional.silu(self.gate(h)) * self.up(h)), k, v


class LanguageModel(nn.Module):
    """inputs_embeds, attention_mask, position_ids, past_key_values.* -> last_hidden_state, present.*
    `tied`: every layer runs one layer's weights (the export keeps one copy): the same products and
    the same weight bytes streamed per step, 1/layers of the memory and of the time to build."""

    def __init__(self, s: JanusShape, tied: bool = False):
        super().__init__()
        shared = Layer(s) if tied else None
        self.layers = nn.ModuleList(shared or Layer(s) for _ in range(s.layers))
        self.norm = RMSNorm(s.hidden)

    def forward(self, inputs_embeds, attention_mask, position_ids, *past):
        n = inputs_embeds.shape[1]
        past_len = past[0].shape[2]
        total = attention_mask.shape[1]
        query = torch.arange(n)[:, None] + past_len  # [S, 1]: each query's own slot
        causal = torch.arange(total)[None, :] <= query  # [S, total]
        allowed = causal[None, None] & (attention_mask[:, None, None, :] > 0)  # [B, 1, S, total]
        x = inputs_embeds
        presents = []
        for i, layer in enumerate(self.layers):
            x, k, v = layer(x, allowed, position_ids, past[2 * i], past[2 * i + 1])
            presents += [k, v]
        return (self.norm(x), *presents)


class PrepareInputsEmbeds(nn.Module):
    def __init__(self, s: JanusShape):
        super().__init__()
        self.embed = nn.Embedding(s.text_vocab, s.hidden)

    def forward(self, input_ids, pixel_values, images_seq_mask, images_emb_mask):
        text = self.embed(input_ids)  # [B, S, hidden]
        images = pixel_values.sum() * 0 + images_emb_mask.to(torch.float32).sum() * 0  # no image features: see above
        return torch.where(images_seq_mask[..., None], torch.zeros_like(text), text) + images


class GenImgEmbeds(nn.Module):
    """gen_embed (codebook width) then gen_aligner (Linear, GELU, Linear), as Janus's prepare_gen_img_embeds."""

    def __init__(self, s: JanusShape):
        super().__init__()
        self.embed = nn.Embedding(s.image_vocab, s.image_embed)
        self.fc1, self.fc2 = nn.Linear(s.image_embed, s.hidden), nn.Linear(s.hidden, s.hidden)

    def forward(self, image_ids):
        return self.fc2(nn.functional.gelu(self.fc1(self.embed(image_ids))))


class GenHead(nn.Module):
    """Janus's vision_head: Linear, GELU, Linear to the image codebook."""

    def __init__(self, s: JanusShape):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(s.hidden, s.hidden), nn.Linear(s.hidden, s.image_vocab)

    def forward(self, last_hidden_state):
        return self.fc2(nn.functional.gelu(self.fc1(last_hidden_state)))


class LmHead(nn.Module):
    def __init__(self, s: JanusShape):
        super().__init__()
        self.fc = nn.Linear(s.hidden, s.text_vocab, bias=False)

    def forward(self, last_hidden_state):
        return self.fc(last_hidden_state)


class ImageDecode(nn.Module):
    """generated_tokens [B, grid*grid] -> decoded_image [B, 3, size, size] in about [-1, 1]."""

    def __init__(self, s: JanusShape):
        super().__init__()
        self.s = s
        self.codebook = nn.Embedding(s.image_vocab, s.image_embed)
        self.post = nn.Conv2d(s.image_embed, 16, 1)
        self.out = nn.Conv2d(16, 3, 3, padding=1)

    def forward(self, generated_tokens):
        s = self.s
        b = generated_tokens.shape[0]
        z = self.codebook(generated_tokens).view(b, s.grid, s.grid, s.image_embed).permute(0, 3, 1, 2)
        z = nn.functional.interpolate(self.post(z), scale_factor=s.image_size // s.grid, mode="nearest")
        return torch.tanh(self.out(torch.relu(z)))


class JanusParts(nn.Module):
    def __init__(self, s: JanusShape, tied: bool = False):
        super().__init__()
        self.shape = s
        self.prepare = PrepareInputsEmbeds(s)
        self.lm = LanguageModel(s, tied)
        self.lm_head = LmHead(s)
        self.gen_head = GenHead(s)
        self.gen_img_embeds = GenImgEmbeds(s)
        self.image_decode = ImageDecode(s)


def cache_names(layers: int, prefix: str):
    return [f"{prefix}.{i}.{kv}" for i in range(layers) for kv in ("key", "value")]


def export_all(parts: JanusParts, onnx_dir: str, lm_head: bool = True) -> None:
    """Writes the six graphs under onnx_dir with transformers.js's names and axes (fp32: no suffix).
    `lm_head=False` leaves out the text head, which text-to-image never runs (the 1B-shaped one is 840 MB)."""
    s = parts.shape
    batch, seq = {0: "batch_size"}, {0: "batch_size", 1: "sequence_length"}
    kw = dict(opset_version=14, do_constant_folding=True)
    ids = torch.tensor([[1, 2, 3]])
    torch.onnx.export(parts.prepare, (ids, torch.zeros(1, 0, 3, s.image_size, s.image_size), torch.zeros(1, 3, dtype=torch.bool),
                                      torch.zeros(1, 0, s.image_tokens, dtype=torch.bool)),
                      f"{onnx_dir}/prepare_inputs_embeds.onnx", input_names=["input_ids", "pixel_values", "images_seq_mask", "images_emb_mask"],
                      output_names=["inputs_embeds"], dynamic_axes={"input_ids": seq, "pixel_values": {0: "batch_size", 1: "num_images"},
                                                                    "images_seq_mask": seq, "images_emb_mask": {0: "batch_size", 1: "num_images"},
                                                                    "inputs_embeds": seq}, **kw)
    past = [torch.randn(1, s.heads, 2, s.head_dim) for _ in range(2 * s.layers)]
    past_names, present_names = cache_names(s.layers, "past_key_values"), cache_names(s.layers, "present")
    axes = {"inputs_embeds": seq, "attention_mask": {0: "batch_size", 1: "total_sequence_length"}, "position_ids": seq, "last_hidden_state": seq}
    axes.update({n: {0: "batch_size", 2: "past_sequence_length"} for n in past_names})
    axes.update({n: {0: "batch_size", 2: "total_sequence_length"} for n in present_names})
    torch.onnx.export(parts.lm, (torch.randn(1, 3, s.hidden), torch.ones(1, 5, dtype=torch.int64), torch.tensor([[2, 3, 4]]), *past),
                      f"{onnx_dir}/language_model.onnx", input_names=["inputs_embeds", "attention_mask", "position_ids", *past_names],
                      output_names=["last_hidden_state", *present_names], dynamic_axes=axes, **kw)
    hidden = torch.randn(1, 2, s.hidden)
    for name, module in ((("lm_head", parts.lm_head),) if lm_head else ()) + (("gen_head", parts.gen_head),):
        torch.onnx.export(module, (hidden,), f"{onnx_dir}/{name}.onnx", input_names=["last_hidden_state"], output_names=["logits"],
                          dynamic_axes={"last_hidden_state": seq, "logits": seq}, **kw)
    torch.onnx.export(parts.gen_img_embeds, (torch.tensor([[1]]),), f"{onnx_dir}/gen_img_embeds.onnx", input_names=["image_ids"],
                      output_names=["inputs_embeds"], dynamic_axes={"image_ids": seq, "inputs_embeds": seq}, **kw)
    torch.onnx.export(parts.image_decode, (torch.zeros(1, s.image_tokens, dtype=torch.int64),), f"{onnx_dir}/image_decode.onnx",
                      input_names=["generated_tokens"], output_names=["decoded_image"],
                      dynamic_axes={"generated_tokens": batch, "decoded_image": batch}, **kw)
