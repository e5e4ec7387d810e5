"""The VQ-VAE's configuration (vqvae.py describes the model): one typed config saved beside
the weights as config.json, unknown or missing keys fail loudly. Its own module because both
the model (vqvae.py) and its codebook (vq_codebook.py) read it, and neither imports the other's
module for it."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import List


@dataclass
class VQVAEConfig:
    image_size: int = 64
    channels: int = 3
    # encoder widths after each stride-2 conv (len = number of downsamplings)
    enc_channels: List[int] = field(default_factory=lambda: [32, 64, 128])
    # decoder widths at grid resolution, then after each stride-2 upsampling but the last
    dec_channels: List[int] = field(default_factory=lambda: [128, 64, 32])
    res_blocks: int = 2              # residual blocks at grid resolution (encoder and decoder)
    res_hidden: int = 64             # bottleneck width inside a residual block
    embed_dim: int = 64              # code vector size
    codebook_size: int = 512
    decay: float = 0.99              # EMA decay of the codebook statistics
    eps: float = 1e-5                # Laplace smoothing of the cluster sizes
    commitment: float = 0.25         # beta
    l1_weight: float = 0.0           # optional extra L1 reconstruction term
    dead_threshold: float = 1.0      # mean uses/step over a restart window below which a code is restarted
    restart_every: int = 10          # steps between dead-code checks
    quant_warmup: int = 100          # steps of plain autoencoder before the codebook is k-means seeded

    @property
    def grid(self) -> int:
        return self.image_size // (2 ** len(self.enc_channels))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "VQVAEConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        missing = sorted(names - set(d))
        if unknown:
            raise ValueError(f"VQVAEConfig: unknown keys {unknown}")
        if missing:
            raise ValueError(f"VQVAEConfig: missing keys {missing}")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        if len(self.dec_channels) != len(self.enc_channels):
            raise ValueError("dec_channels and enc_channels must have the same length")
        if self.image_size % (2 ** len(self.enc_channels)):
            raise ValueError("image_size must be divisible by 2**len(enc_channels)")

    def save(self, path: str) -> None:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
            f.write("\n")

    @classmethod
    def load(cls, path: str) -> "VQVAEConfig":
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))
