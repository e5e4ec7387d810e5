"""The key names and shapes of min-dalle's state dicts, and strict checking against them.

min-dalle (github.com/kuprel/min-dalle) ships DALL·E Mini/Mega as three PyTorch state
dicts converted from dalle-mini's Flax checkpoints: encoder.pt, decoder.pt (float16) and
detoker.pt (float32, the VQGAN f16 decoder only). dalle-mini's NormFormer layout has no
scale on the layer norms that feed a dense layer (force_ln_scale=False), so those norms
hold only a bias in the files; min-dalle loads with strict=False and leaves their
weight at 1. We list exactly what the files hold, so a conversion fails loudly on any
missing, unexpected or wrong-shaped key instead of silently using an initial value.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import torch

Shape = Tuple[int, ...]
Spec = Dict[str, Shape]

IMAGE_TOKENS = 256  # 16x16 grid, fixed by min-dalle's decoder (IMAGE_TOKEN_COUNT)
SAMPLED_VOCAB = 2 ** 14  # min-dalle samples only the first 16384 logits (Mega's rows above are padding)

# (layers, embed, heads, glu, text vocab, image vocab) of the two published models.
KNOWN_MODELS = {
    "mini": (12, 1024, 16, 2730, 50264, 16384),
    "mega": (24, 2048, 32, 4096, 50272, 16415),
}


class ConversionError(Exception):
    """A state dict that does not match what the converter expects; the message names the key."""


@dataclass(frozen=True)
class BartShape:
    name: str  # "mini", "mega" or "shrunk"
    layers: int
    embed: int
    heads: int
    glu: int
    text_vocab: int
    text_length: int
    image_vocab: int  # decoder embedding rows - 1 (the extra row is dalle-mini's BOS)

    @property
    def head_dim(self) -> int:
        return self.embed // self.heads


@dataclass(frozen=True)
class VqganShape:
    codebook: int
    latent: int  # embedding width (256 in the real VQGAN)
    widths: Tuple[int, int, int]  # channel widths of the three resolutions (128, 256, 512 real)
    groups: int  # GroupNorm groups (32 in the real VQGAN)


def _norm(spec: Spec, prefix: str, width: int, scale: bool) -> None:
    if scale:
        spec[f"{prefix}.weight"] = (width,)
    spec[f"{prefix}.bias"] = (width,)


def _attention(spec: Spec, prefix: str, e: int) -> None:
    for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
        spec[f"{prefix}.{proj}.weight"] = (e, e)


def _glu(spec: Spec, prefix: str, e: int, g: int) -> None:
    _norm(spec, f"{prefix}.ln0", e, scale=False)
    _norm(spec, f"{prefix}.ln1", g, scale=False)
    spec[f"{prefix}.fc0.weight"] = (g, e)
    spec[f"{prefix}.fc1.weight"] = (g, e)
    spec[f"{prefix}.fc2.weight"] = (e, g)


def encoder_spec(s: BartShape) -> Spec:
    e = s.embed
    spec: Spec = {"embed_tokens.weight": (s.text_vocab, e), "embed_positions.weight": (s.text_length, e)}
    for l in range(s.layers):
        p = f"layers.{l}"
        _norm(spec, f"{p}.pre_self_attn_layer_norm", e, scale=False)
        _attention(spec, f"{p}.self_attn", e)
        _norm(spec, f"{p}.self_attn_layer_norm", e, scale=True)
        _glu(spec, f"{p}.glu", e, s.glu)
    _norm(spec, "layernorm_embedding", e, scale=True)
    _norm(spec, "final_ln", e, scale=False)
    return spec


def decoder_spec(s: BartShape) -> Spec:
    e, rows = s.embed, s.image_vocab + 1
    spec: Spec = {"embed_tokens.weight": (rows, e), "embed_positions.weight": (IMAGE_TOKENS, e)}
    for l in range(s.layers):
        p = f"layers.{l}"
        _norm(spec, f"{p}.pre_self_attn_layer_norm", e, scale=False)
        _attention(spec, f"{p}.self_attn", e)
        _norm(spec, f"{p}.self_attn_layer_norm", e, scale=True)
        _norm(spec, f"{p}.pre_encoder_attn_layer_norm", e, scale=False)
        _attention(spec, f"{p}.encoder_attn", e)
        _norm(spec, f"{p}.encoder_attn_layer_norm", e, scale=True)
        _glu(spec, f"{p}.glu", e, s.glu)
    _norm(spec, "layernorm_embedding", e, scale=True)
    _norm(spec, "final_ln", e, scale=False)
    spec["lm_head.weight"] = (rows, e)
    return spec


# VQGAN decoder levels, in key order up.0 .. up.4: (width index in, width index out, attention, upsample).
VQGAN_LEVELS = ((0, 0, False, False), (1, 0, False, True), (1, 1, False, True), (2, 1, False, True), (2, 2, True, True))


def _resnet(spec: Spec, prefix: str, cin: int, cout: int) -> None:
    _norm(spec, f"{prefix}.norm1", cin, scale=True)
    spec[f"{prefix}.conv1.weight"] = (cout, cin, 3, 3)
    spec[f"{prefix}.conv1.bias"] = (cout,)
    _norm(spec, f"{prefix}.norm2", cout, scale=True)
    spec[f"{prefix}.conv2.weight"] = (cout, cout, 3, 3)
    spec[f"{prefix}.conv2.bias"] = (cout,)
    if cin != cout:
        spec[f"{prefix}.nin_shortcut.weight"] = (cout, cin, 1, 1)
        spec[f"{prefix}.nin_shortcut.bias"] = (cout,)


def _vq_attention(spec: Spec, prefix: str, c: int) -> None:
    _norm(spec, f"{prefix}.norm", c, scale=True)
    for conv in ("q", "k", "v", "proj_out"):
        spec[f"{prefix}.{conv}.weight"] = (c, c, 1, 1)
        spec[f"{prefix}.{conv}.bias"] = (c,)


def detoker_spec(v: VqganShape) -> Spec:
    z, (c0, c1, c2) = v.latent, v.widths
    widths = (c0, c1, c2)
    spec: Spec = {
        "embedding.weight": (v.codebook, z),
        "post_quant_conv.weight": (z, z, 1, 1),
        "post_quant_conv.bias": (z,),
        "decoder.conv_in.weight": (c2, z, 3, 3),
        "decoder.conv_in.bias": (c2,),
    }
    _resnet(spec, "decoder.mid.block_1", c2, c2)
    _vq_attention(spec, "decoder.mid.attn_1", c2)
    _resnet(spec, "decoder.mid.block_2", c2, c2)
    for i, (win, wout, attention, upsample) in enumerate(VQGAN_LEVELS):
        cin, cout = widths[win], widths[wout]
        for j in range(3):
            _resnet(spec, f"decoder.up.{i}.block.{j}", cin if j == 0 else cout, cout)
            if attention:
                _vq_attention(spec, f"decoder.up.{i}.attn.{j}", cout)
        if upsample:
            spec[f"decoder.up.{i}.upsample.conv.weight"] = (cout, cout, 3, 3)
            spec[f"decoder.up.{i}.upsample.conv.bias"] = (cout,)
    _norm(spec, "decoder.norm_out", c0, scale=True)
    spec["decoder.conv_out.weight"] = (3, c0, 3, 3)
    spec["decoder.conv_out.bias"] = (3,)
    return spec


def _shape(sd: Mapping, key: str, file: str, rank: int) -> Shape:
    if key not in sd:
        raise ConversionError(f"{file}: missing key {key!r} (needed to read the model's dimensions)")
    shape = tuple(sd[key].shape)
    if len(shape) != rank:
        raise ConversionError(f"{file}: {key!r} has shape {list(shape)}, expected {rank} dimensions")
    return shape


def _layer_count(sd: Mapping) -> int:
    indices = {int(k.split(".")[1]) for k in sd if k.startswith("layers.") and k.split(".")[1].isdigit()}
    return max(indices) + 1 if indices else 0


def infer_bart(encoder: Mapping, decoder: Mapping, heads: Optional[int]) -> BartShape:
    """Dimensions from the shapes; Mini or Mega when they match a published model."""
    text_vocab, embed = _shape(encoder, "embed_tokens.weight", "encoder.pt", 2)
    text_length, _ = _shape(encoder, "embed_positions.weight", "encoder.pt", 2)
    glu, _ = _shape(encoder, "layers.0.glu.fc0.weight", "encoder.pt", 2)
    rows, _ = _shape(decoder, "embed_tokens.weight", "decoder.pt", 2)
    layers = _layer_count(encoder)
    if _layer_count(decoder) != layers:
        raise ConversionError(f"decoder.pt has {_layer_count(decoder)} layers, encoder.pt has {layers}")
    name = "shrunk"
    for known, (kl, ke, kh, kg, ktv, kiv) in KNOWN_MODELS.items():
        if (layers, embed, glu, text_vocab, rows - 1) == (kl, ke, kg, ktv, kiv):
            name = known
            if heads is None:
                heads = kh
            elif heads != kh:
                raise ConversionError(f"--heads {heads} contradicts DALL·E {known.title()}, which has {kh} heads")
    if heads is None:
        raise ConversionError(
            f"the weights (layers {layers}, embed {embed}, glu {glu}, text vocab {text_vocab}) are neither "
            "DALL·E Mini nor Mega; give the head count with --heads")
    if heads < 1 or embed % heads != 0:
        raise ConversionError(f"--heads {heads} does not divide the embedding width {embed}")
    if rows - 1 < SAMPLED_VOCAB:
        raise ConversionError(f"decoder.pt: embed_tokens.weight has {rows} rows; min-dalle needs at least {SAMPLED_VOCAB + 1}")
    return BartShape(name, layers, embed, heads, glu, text_vocab, text_length, rows - 1)


def infer_vqgan(detoker: Mapping, groups: int) -> VqganShape:
    codebook, latent = _shape(detoker, "embedding.weight", "detoker.pt", 2)
    c0 = _shape(detoker, "decoder.norm_out.weight", "detoker.pt", 1)[0]
    c1 = _shape(detoker, "decoder.up.2.block.0.conv1.weight", "detoker.pt", 4)[0]
    c2 = _shape(detoker, "decoder.conv_in.weight", "detoker.pt", 4)[0]
    for c in (c0, c1, c2):
        if c % groups != 0:
            raise ConversionError(f"detoker.pt: width {c} is not divisible by --norm-groups {groups}")
    return VqganShape(codebook, latent, (c0, c1, c2), groups)


def check_state_dict(sd: Mapping, spec: Spec, file: str) -> None:
    """Every key of spec present with its shape and a float dtype, and no other key."""
    missing = [k for k in spec if k not in sd]
    unexpected = [k for k in sd if k not in spec]
    problems = []
    if missing:
        problems.append(f"missing key(s) {missing[:8]}" + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""))
    if unexpected:
        problems.append(f"unexpected key(s) {unexpected[:8]}" + (f" and {len(unexpected) - 8} more" if len(unexpected) > 8 else ""))
    for key, shape in spec.items():
        if key in sd:
            tensor = sd[key]
            if tuple(tensor.shape) != shape:
                problems.append(f"{key!r} has shape {list(tensor.shape)}, expected {list(shape)}")
            elif not tensor.is_floating_point():
                problems.append(f"{key!r} has dtype {tensor.dtype}, expected a float tensor")
    if problems:
        raise ConversionError(f"{file}: " + "; ".join(problems))


def find(weights: str, stem: str, ext: str) -> str:
    """`stem.ext` or min-dalle's Mini download name `stem_mini.ext`, never both."""
    plain, mini = os.path.join(weights, f"{stem}.{ext}"), os.path.join(weights, f"{stem}_mini.{ext}")
    present = [p for p in (plain, mini) if os.path.exists(p)]
    if not present:
        raise ConversionError(f"{weights}: no {stem}.{ext} (or {stem}_mini.{ext})")
    if len(present) == 2:
        raise ConversionError(f"{weights}: both {stem}.{ext} and {stem}_mini.{ext}; keep one model per folder")
    return present[0]


def load_state_dict_file(path: str) -> Dict[str, torch.Tensor]:
    try:
        sd = torch.load(path, map_location="cpu")
    except Exception as error:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ConversionError(f"{path}: not a readable PyTorch file ({error})") from error
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConversionError(f"{path}: expected a state dict (a dict of tensors)")
    return sd
