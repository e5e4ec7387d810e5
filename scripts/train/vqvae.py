"""Tessera's image tokenizer: a VQ-VAE with an EMA codebook (64x64 RGB <-> 8x8 codes).

Why a VQ-VAE with an EMA codebook rather than DALL-E's gumbel-softmax dVAE: at this
scale (a few CPU hours, 64x64 shapes) the VQ-VAE is simpler and more stable. The
dVAE needs a temperature schedule and a KL weight schedule, and its relaxed samples
make the train/test gap (soft mixtures vs. hard argmax codes) another thing to tune.
A VQ-VAE trains on hard codes from step one. The codebook is updated by exponential
moving averages of the encoder outputs assigned to each code (van den Oord et al.
2017, appendix; VQ-VAE-2, Razavi et al. 2019) instead of by a codebook loss, which
converges faster and avoids the codebook/encoder tug-of-war; the encoder is pulled
towards its codes by the commitment loss (beta = 0.25).

The known failure of VQ codebooks is collapse: codes initialised away from the
encoder outputs are never selected and only one or a few codes get used. Two guards:
  * the codebook is initialised from encoder outputs: the first `quant_warmup` steps
    train a plain autoencoder (quantiser bypassed) so the encoder outputs spread out,
    then the codebook is seeded by k-means++ (plus a few Lloyd steps) on that batch's
    encoder outputs, so every code starts on the data;
  * dead-code restart: every `restart_every` steps, a code used fewer than
    `dead_threshold` times per step over that window is reset to a current encoder output, drawn
    with probability proportional to its squared distance to the nearest code.

Shapes: encoder `images` float [B,3,64,64] in [0,1] -> `codes` int64 [B,8,8];
decoder `codes` int64 [B,8,8] -> `images` float [B,3,64,64] (clamped to [0,1] in the
exported graph). The decoder runs once per candidate at inference on CPU, so it is
kept small (about 55 M multiply-adds per image).

The codebook (EMA updates, data init, dead-code restart) is in vq_codebook.py; this file
holds the convolutional encoder and decoder, the model and its
checkpoints; the configuration is in vq_config.py. Runs unchanged on torch 1.13 (CPU) and torch 2.x (CUDA); no torch-2-only APIs.
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F

from vq_codebook import EMACodebook
from vq_config import VQVAEConfig


def tiny_config(codebook_size: int = 64) -> VQVAEConfig:
    """A very small config for the random-weight test package (fast to export and run)."""
    return VQVAEConfig(enc_channels=[8, 16, 16], dec_channels=[16, 16, 8], res_blocks=1,
                       res_hidden=8, embed_dim=8, codebook_size=codebook_size)


class ResBlock(nn.Module):
    def __init__(self, ch: int, hidden: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Encoder(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        layers: List[nn.Module] = []
        cin = cfg.channels
        for i, c in enumerate(cfg.enc_channels):
            layers.append(nn.Conv2d(cin, c, 4, stride=2, padding=1))
            layers.append(nn.ReLU())
            cin = c
        layers.append(nn.Conv2d(cin, cin, 3, padding=1))
        for _ in range(cfg.res_blocks):
            layers.append(ResBlock(cin, cfg.res_hidden))
        layers.append(nn.ReLU())
        layers.append(nn.Conv2d(cin, cfg.embed_dim, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class UpShuffle(nn.Module):
    """x2 upsampling by sub-pixel convolution: conv3x3 at low resolution to 4*cout
    channels, then pixel shuffle (ONNX DepthToSpace). Used instead of ConvTranspose2d,
    whose backward pass is pathologically slow on the Debian torch 1.13 CPU build
    (10-20x a same-size conv) and which has no speed advantage in onnxruntime."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, 4 * cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), 2)


class Decoder(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        ch = cfg.dec_channels
        layers: List[nn.Module] = [nn.Conv2d(cfg.embed_dim, ch[0], 3, padding=1)]
        for _ in range(cfg.res_blocks):
            layers.append(ResBlock(ch[0], cfg.res_hidden))
        layers.append(nn.ReLU())
        for i in range(len(ch)):
            cout = ch[i + 1] if i + 1 < len(ch) else cfg.channels
            layers.append(UpShuffle(ch[i], cout))
            if i + 1 < len(ch):
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class VQVAE(nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = EMACodebook(cfg)
        self.decoder = Decoder(cfg)

    def forward(self, images: torch.Tensor):
        """images [B,3,H,W] in [0,1] -> dict(recon, codes, loss terms)."""
        z = self.encoder(images * 2.0 - 1.0)
        q, codes, commit = self.quantizer(z)
        recon = self.decoder(q)
        mse = F.mse_loss(recon, images)
        loss = mse + self.cfg.commitment * commit
        if self.cfg.l1_weight:
            loss = loss + self.cfg.l1_weight * F.l1_loss(recon, images)
        return {"recon": recon, "codes": codes, "loss": loss, "mse": mse, "commit": commit}

    # inference paths (these are what the ONNX graphs contain)
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        z = self.encoder(images * 2.0 - 1.0).permute(0, 2, 3, 1)
        return self.quantizer.codes(z)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        q = self.quantizer.lookup(codes).permute(0, 3, 1, 2)
        return torch.clamp(self.decoder(q), 0.0, 1.0)


def torch_load(path: str, weights_only: bool, map_location="cpu"):
    """torch.load with an explicit weights_only (torch >= 2.6 defaults it to True, 1.13 to False;
    1.13's weights-only unpickler also rejects plain floats, so train states need False)."""
    import inspect
    if "weights_only" in inspect.signature(torch.load).parameters:
        return torch.load(path, map_location=map_location, weights_only=weights_only)
    return torch.load(path, map_location=map_location)


def load_vqvae(ckpt_dir: str, map_location="cpu") -> VQVAE:
    """Rebuild a VQ-VAE from checkpoint folder (config.json + weights.pt, fp16 state dict)."""
    import os
    cfg = VQVAEConfig.load(os.path.join(ckpt_dir, "config.json"))
    model = VQVAE(cfg)
    state = torch_load(os.path.join(ckpt_dir, "weights.pt"), weights_only=True, map_location=map_location)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def fp16_state_dict(model: nn.Module) -> dict:
    """Conv weights in fp16; the quantiser's buffers stay fp32 (small, and the EMA sums
    `embed_avg` = code * usage can exceed the fp16 range for a very common code)."""
    return {k: (v.detach().half().cpu() if v.is_floating_point() and not k.startswith("quantizer.")
                else v.detach().cpu())
            for k, v in model.state_dict().items()}
