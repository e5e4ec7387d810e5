"""PyTorch modules that hold min-dalle's state dicts (same key names) and compute DALL·E Mini/Mega.

The parameter names are the file format (min_dalle_spec.py); the computation is written
for export: the encoder, the cross-attention keys/values of a text (computed once), one
decoder step over fixed per-row self-attention slots, and the VQGAN detokenizer.
Semantics follow min-dalle: BART with NormFormer norms and GLU feed-forward blocks, exact
GELU, layer-norm epsilon 1e-5, GroupNorm epsilon 1e-5, text pad id 1.
"""
from __future__ import annotations

import math
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from min_dalle_spec import SAMPLED_VOCAB, VQGAN_LEVELS, BartShape, VqganShape

# Finite (a fully masked row would otherwise softmax to NaN) and far below any score,
# so exp() of a masked entry is exactly 0 in float32, as with min-dalle's -1e12.
MASK_VALUE = -1e9
TEXT_PAD_ID = 1


class Norm(nn.Module):
    """LayerNorm whose scale may be absent from the file (then 1, as in dalle-mini's NormFormer)."""

    def __init__(self, width: int, scale: bool = True, eps: float = 1e-5):
        super().__init__()
        self.width, self.eps = width, eps
        self.bias = nn.Parameter(torch.zeros(width))
        if scale:
            self.weight = nn.Parameter(torch.ones(width))
        else:
            self.register_buffer("weight", torch.ones(width), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, (self.width,), self.weight, self.bias, self.eps)


class Attention(nn.Module):
    def __init__(self, e: int):
        super().__init__()
        self.k_proj = nn.Linear(e, e, bias=False)
        self.v_proj = nn.Linear(e, e, bias=False)
        self.q_proj = nn.Linear(e, e, bias=False)
        self.out_proj = nn.Linear(e, e, bias=False)


class GLU(nn.Module):
    def __init__(self, e: int, g: int):
        super().__init__()
        self.ln0, self.ln1 = Norm(e, scale=False), Norm(g, scale=False)
        self.fc0 = nn.Linear(e, g, bias=False)
        self.fc1 = nn.Linear(e, g, bias=False)
        self.fc2 = nn.Linear(g, e, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln0(x)
        return self.fc2(self.ln1(F.gelu(self.fc0(h)) * self.fc1(h)))


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = x.shape
    return x.view(b, n, heads, -1).transpose(1, 2)  # [B, H, n, D]


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    b, _, n, _ = x.shape
    return x.transpose(1, 2).reshape(b, n, -1)  # [B, n, E]


class EncoderLayer(nn.Module):
    def __init__(self, s: BartShape):
        super().__init__()
        self.heads, self.scale = s.heads, 1.0 / math.sqrt(s.head_dim)
        self.pre_self_attn_layer_norm = Norm(s.embed, scale=False)
        self.self_attn = Attention(s.embed)
        self.self_attn_layer_norm = Norm(s.embed)
        self.glu = GLU(s.embed, s.glu)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        a = self.self_attn
        h = self.pre_self_attn_layer_norm(x)
        q = split_heads(a.q_proj(h), self.heads) * self.scale
        k, v = split_heads(a.k_proj(h), self.heads), split_heads(a.v_proj(h), self.heads)
        weights = F.softmax(q @ k.transpose(-1, -2) + bias, dim=-1)  # [B, H, T, T]
        x = x + self.self_attn_layer_norm(a.out_proj(merge_heads(weights @ v)))
        return x + self.glu(x)


class Encoder(nn.Module):
    """input_ids [B, T] -> encoder states [B, T, E]; pad (id 1) keys are masked."""

    def __init__(self, s: BartShape):
        super().__init__()
        self.embed_tokens = nn.Embedding(s.text_vocab, s.embed)
        self.embed_positions = nn.Embedding(s.text_length, s.embed)
        self.layers = nn.ModuleList([EncoderLayer(s) for _ in range(s.layers)])
        self.layernorm_embedding = Norm(s.embed)
        self.final_ln = Norm(s.embed, scale=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.layernorm_embedding(self.embed_tokens(input_ids) + self.embed_positions(positions)[None])
        bias = text_bias(input_ids.ne(TEXT_PAD_ID).float())
        for layer in self.layers:
            x = layer(x, bias)
        return self.final_ln(x)


def text_bias(text_mask: torch.Tensor) -> torch.Tensor:
    """[B, T] of 1 (attend) / 0 (pad) -> additive bias [B, 1, 1, T]."""
    return ((1.0 - text_mask) * MASK_VALUE)[:, None, None, :]


class DecoderLayer(nn.Module):
    def __init__(self, s: BartShape):
        super().__init__()
        self.heads, self.scale = s.heads, 1.0 / math.sqrt(s.head_dim)
        self.pre_self_attn_layer_norm = Norm(s.embed, scale=False)
        self.self_attn = Attention(s.embed)
        self.self_attn_layer_norm = Norm(s.embed)
        self.pre_encoder_attn_layer_norm = Norm(s.embed, scale=False)
        self.encoder_attn = Attention(s.embed)
        self.encoder_attn_layer_norm = Norm(s.embed)
        self.glu = GLU(s.embed, s.glu)

    def cross(self, encoder_state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention keys (transposed) [B, H, D, T] and values [B, H, T, D] of a text."""
        a = self.encoder_attn
        k = split_heads(a.k_proj(encoder_state), self.heads).transpose(-1, -2)
        return k, split_heads(a.v_proj(encoder_state), self.heads)

    def step(self, x, self_bias, text_bias_, past_k, past_v, cross_k_t, cross_v):
        """x [R,1,E]; past_k and past_v [R,H,C,D] (plain keys, C slots: the step graph's slot
        axis is dynamic, Tessera passes the filled ones; docs/model-package.md
        generator.cache); returns (x, new k [R,H,1,D], new v)."""
        a = self.self_attn
        scale = self.scale
        h = self.pre_self_attn_layer_norm(x)
        q = split_heads(a.q_proj(h), self.heads) * scale  # [R, H, 1, D]
        k, v = split_heads(a.k_proj(h), self.heads), split_heads(a.v_proj(h), self.heads)
        past_scores = q @ past_k.transpose(-1, -2) + self_bias  # [R, H, 1, C]
        own_score = (q * k).sum(-1, keepdim=True)  # [R, H, 1, 1]
        weights = F.softmax(torch.cat([past_scores, own_score], dim=-1), dim=-1)
        attended = weights[..., :-1] @ past_v + weights[..., -1:] * v  # [R, H, 1, D]
        x = x + self.self_attn_layer_norm(a.out_proj(merge_heads(attended)))

        c = self.encoder_attn
        q = split_heads(c.q_proj(self.pre_encoder_attn_layer_norm(x)), self.heads) * scale
        weights = F.softmax(q @ cross_k_t + text_bias_, dim=-1)  # [R, H, 1, T]
        x = x + self.encoder_attn_layer_norm(c.out_proj(merge_heads(weights @ cross_v)))
        return x + self.glu(x), k, v


class Decoder(nn.Module):
    def __init__(self, s: BartShape):
        super().__init__()
        self.shape = s
        rows = s.image_vocab + 1
        self.embed_tokens = nn.Embedding(rows, s.embed)
        self.embed_positions = nn.Embedding(256, s.embed)
        self.layers = nn.ModuleList([DecoderLayer(s) for _ in range(s.layers)])
        self.layernorm_embedding = Norm(s.embed)
        self.final_ln = Norm(s.embed, scale=False)
        self.lm_head = nn.Linear(s.embed, rows, bias=False)

    def cross(self, encoder_state: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Stacked cross keys [L, B, H, D, T] and values [L, B, H, T, D]."""
        pairs = [layer.cross(encoder_state) for layer in self.layers]
        return torch.stack([k for k, _ in pairs]), torch.stack([v for _, v in pairs])

    def step(self, input_ids, position_ids, attention_mask, text_mask,
             past_k: Sequence[torch.Tensor], past_v: Sequence[torch.Tensor],
             cross_k: Sequence[torch.Tensor], cross_v: Sequence[torch.Tensor]):
        """-> logits [R, 16384], new keys/values [L, R, H, 1, D]."""
        x = self.layernorm_embedding(self.embed_tokens(input_ids) + self.embed_positions(position_ids))  # [R, 1, E]
        self_bias = ((1.0 - attention_mask) * MASK_VALUE)[:, None, None, :]  # [R, 1, 1, S]
        tb = text_bias(text_mask)
        new_k: List[torch.Tensor] = []
        new_v: List[torch.Tensor] = []
        for l, layer in enumerate(self.layers):
            x, k, v = layer.step(x, self_bias, tb, past_k[l], past_v[l], cross_k[l], cross_v[l])
            new_k.append(k)
            new_v.append(v)
        logits = self.lm_head(self.final_ln(x[:, 0]))[:, :SAMPLED_VOCAB]  # [R, 16384]
        return logits, torch.stack(new_k), torch.stack(new_v)


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm (same parameters) in plain tensor ops: torch 1.13's group_norm checks the
    batch size with Python control flow, which the ONNX tracer cannot follow."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(x.shape[0], self.num_groups, -1)  # [B, G, C/G * H * W]
        mean = h.mean(-1, keepdim=True)
        var = (h - mean).pow(2).mean(-1, keepdim=True)
        h = ((h - mean) / torch.sqrt(var + self.eps)).reshape(x.shape)
        return h * self.weight[:, None, None] + self.bias[:, None, None]


class ResnetBlock(nn.Module):
    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__()
        self.norm1 = GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.nin_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (x if self.nin_shortcut is None else self.nin_shortcut(x)) + h


class SpatialAttention(nn.Module):
    def __init__(self, c: int, groups: int):
        super().__init__()
        self.scale = 1.0 / math.sqrt(c)
        self.norm = GroupNorm(groups, c)
        self.q, self.k, self.v, self.proj_out = (nn.Conv2d(c, c, 1) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(b, c, -1).transpose(1, 2)  # [B, N, C]
        k = self.k(h).reshape(b, c, -1)  # [B, C, N]
        v = self.v(h).reshape(b, c, -1).transpose(1, 2)  # [B, N, C]
        weights = F.softmax(q @ k * self.scale, dim=-1)  # [B, N, N]
        out = (weights @ v).transpose(1, 2).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Upsample(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UpLevel(nn.Module):
    def __init__(self, cin: int, cout: int, attention: bool, upsample: bool, groups: int):
        super().__init__()
        self.block = nn.ModuleList([ResnetBlock(cin if j == 0 else cout, cout, groups) for j in range(3)])
        self.attn = nn.ModuleList([SpatialAttention(cout, groups) for _ in range(3)]) if attention else None
        self.upsample = Upsample(cout) if upsample else None

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for j in range(3):
            h = self.block[j](h)
            if self.attn is not None:
                h = self.attn[j](h)
        return h if self.upsample is None else self.upsample(h)


class VqganDecoder(nn.Module):
    def __init__(self, v: VqganShape):
        super().__init__()
        c0, c1, c2 = v.widths
        widths = (c0, c1, c2)
        self.conv_in = nn.Conv2d(v.latent, c2, 3, padding=1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(c2, c2, v.groups)
        self.mid.attn_1 = SpatialAttention(c2, v.groups)
        self.mid.block_2 = ResnetBlock(c2, c2, v.groups)
        self.up = nn.ModuleList([UpLevel(widths[a], widths[b], att, ups, v.groups) for a, b, att, ups in VQGAN_LEVELS])
        self.norm_out = GroupNorm(v.groups, c0)
        self.conv_out = nn.Conv2d(c0, 3, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for level in reversed(self.up):  # lowest resolution first
            h = level(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Detokenizer(nn.Module):
    """codes [B, h, w] -> RGB [B, 3, 16h, 16w] in [0, 1] (min-dalle clips the VQGAN output to [0, 1])."""

    def __init__(self, v: VqganShape):
        super().__init__()
        self.embedding = nn.Embedding(v.codebook, v.latent)
        self.post_quant_conv = nn.Conv2d(v.latent, v.latent, 1)
        self.decoder = VqganDecoder(v)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        z = self.embedding(codes).permute(0, 3, 1, 2)  # [B, Z, h, w]
        return self.decoder(self.post_quant_conv(z)).clamp(0.0, 1.0)
