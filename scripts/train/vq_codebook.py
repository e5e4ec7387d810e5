"""The VQ-VAE's quantiser (vqvae.py describes the model and why it is built this way): a
codebook updated by exponential moving averages, seeded by k-means++ on encoder outputs,
with dead-code restarts, and the usage statistics of a batch of codes. Kept apart from
vqvae.py because it is the one stateful, non-gradient part of the model: its buffers, not
its weights, are what training tunes, and its collapse guards are what a reader checks.
Runs unchanged on torch 1.13 (CPU) and torch 2.x (CUDA)."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from vq_config import VQVAEConfig


class EMACodebook(nn.Module):
    """Vector quantiser with EMA codebook updates, data init and dead-code restart."""

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        self.cfg = cfg
        k, d = cfg.codebook_size, cfg.embed_dim
        self.register_buffer("embedding", torch.randn(k, d))
        self.register_buffer("cluster_size", torch.ones(k))
        self.register_buffer("embed_avg", self.embedding.clone())
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))
        self.register_buffer("usage", torch.zeros(k))                     # assignments since the last dead-code check
        self.last_restarts = 0

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """z: [..., D] channels-last -> int64 codes [...] (nearest code, squared L2)."""
        e = self.embedding
        dist = (z * z).sum(-1, keepdim=True) - 2.0 * torch.matmul(z, e.t()) + (e * e).sum(-1)
        return torch.argmin(dist, dim=-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embedding)

    def _min_dist(self, flat: torch.Tensor) -> torch.Tensor:
        e = self.embedding
        d = (flat * flat).sum(-1, keepdim=True) - 2.0 * flat @ e.t() + (e * e).sum(-1)
        return d.min(dim=1)[0].clamp_min(0.0)

    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor) -> None:
        """k-means++ seeding on (a sample of) encoder outputs, then a few Lloyd iterations."""
        k = self.cfg.codebook_size
        sample = flat[_sample_rows(flat.shape[0], min(flat.shape[0], 16 * k), flat.device)]
        centers = sample[torch.randint(0, sample.shape[0], (1,), device=flat.device)]
        d2 = ((sample - centers[0]) ** 2).sum(-1)
        chosen = [centers[0]]
        for _ in range(1, k):
            p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / d2.shape[0])
            c = sample[torch.multinomial(p, 1)][0]
            chosen.append(c)
            d2 = torch.minimum(d2, ((sample - c) ** 2).sum(-1))
        e = torch.stack(chosen)
        for _ in range(5):
            codes = torch.argmin((sample * sample).sum(-1, keepdim=True) - 2.0 * sample @ e.t() + (e * e).sum(-1), 1)
            onehot = F.one_hot(codes, k).type(sample.dtype)
            counts = onehot.sum(0)
            sums = onehot.t() @ sample
            e = torch.where(counts.unsqueeze(1) > 0, sums / counts.clamp_min(1).unsqueeze(1), e)
        self.embedding.copy_(e)
        # usage statistics in vectors per step, as if this split had been seen all along
        per_step = counts * (flat.shape[0] / sample.shape[0])
        self.cluster_size.copy_(per_step)
        self.embed_avg.copy_(e * per_step.unsqueeze(1))
        self.initialized.fill_(1)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        cfg = self.cfg
        counts = torch.bincount(codes, minlength=cfg.codebook_size).type(flat.dtype)
        sums = torch.zeros_like(self.embed_avg).index_add_(0, codes, flat)  # [K, D]
        self.cluster_size.mul_(cfg.decay).add_(counts, alpha=1 - cfg.decay)
        self.embed_avg.mul_(cfg.decay).add_(sums, alpha=1 - cfg.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + cfg.eps) / (n + cfg.codebook_size * cfg.eps) * n
        self.embedding.copy_(self.embed_avg / smoothed.unsqueeze(1))
        self.usage.add_(counts)
        if int(self.steps.item()) % cfg.restart_every == 0:
            # dead = used less than dead_threshold times per step over the last window; a
            # window count reacts within restart_every steps, where the slow EMA would let
            # the whole codebook drift off the (fast-moving, early) encoder outputs first
            dead = self.usage < cfg.dead_threshold * cfg.restart_every
            self.usage.zero_()
            n_dead = int(dead.sum().item())
            if n_dead:
                # replacements drawn with probability ~ squared distance to the nearest live
                # code (k-means++ style), so restarts go where the codebook covers the data worst
                d2 = self._min_dist(flat)
                p = d2 / d2.sum() if float(d2.sum()) > 0 else torch.full_like(d2, 1.0 / d2.shape[0])
                idx = torch.multinomial(p, n_dead, replacement=n_dead > flat.shape[0])
                fresh = flat[idx]
                self.embedding[dead] = fresh
                self.cluster_size[dead] = cfg.dead_threshold * 2.0
                self.embed_avg[dead] = fresh * cfg.dead_threshold * 2.0
            self.last_restarts = n_dead

    def forward(self, z: torch.Tensor):
        """z: [B, D, h, w] -> (quantised z with straight-through grads, codes [B,h,w], commitment loss).

        Training: for the first `quant_warmup` steps the quantiser is bypassed (plain
        autoencoder, so the encoder outputs spread out); then the codebook is seeded by
        k-means++ on the current batch's encoder outputs and the EMA updates start."""
        zl = z.permute(0, 2, 3, 1).contiguous()                             # [B,h,w,D]
        flat = zl.reshape(-1, zl.shape[-1])
        if self.training:
            step = int(self.steps.item())
            self.steps.add_(1)
            if step < self.cfg.quant_warmup:
                codes = torch.zeros(zl.shape[:-1], dtype=torch.long, device=z.device)
                return z, codes, z.new_zeros(())
            if int(self.initialized.item()) == 0:
                self._init_from(flat.detach())
        codes = self.codes(zl.detach())
        q = self.lookup(codes)
        if self.training:
            self._ema_update(flat.detach(), codes.reshape(-1))
        commit = F.mse_loss(zl, q.detach())
        q = zl + (q - zl).detach()
        return q.permute(0, 3, 1, 2), codes, commit


def _sample_rows(n: int, k: int, device) -> torch.Tensor:
    if n >= k:
        return torch.randperm(n, device=device)[:k]
    return torch.randint(0, n, (k,), device=device)


def codebook_stats(codes: torch.Tensor, k: int):
    """perplexity and number of distinct codes used in a batch of codes."""
    counts = torch.bincount(codes.reshape(-1), minlength=k).float()
    p = counts / counts.sum()
    ent = -(p[p > 0] * p[p > 0].log()).sum()
    return float(math.exp(float(ent))), int((counts > 0).sum().item())
