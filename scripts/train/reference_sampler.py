"""An independent reference for the TypeScript sampler.

It shares nothing with src/sampler but the specification: the per-candidate random
stream (SplitMix64 keyed by (seed, candidate index)), the logits processors and the
inverse-CDF draw. It runs the naive way — the whole sequence is recomputed every
step, with no KV cache — so the tokens it pins also check the cached step graph.
"""
from __future__ import annotations

import math
from typing import List, Optional

import numpy as np
import torch

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


class CandidateStream:
    """Candidate i of seed s draws from its own stream, whatever the batch around it."""

    def __init__(self, seed: int, index: int):
        self.state = mix64((seed & MASK64) ^ mix64(((index + 1) * GOLDEN) & MASK64))

    def uniform(self) -> float:
        self.state = (self.state + GOLDEN) & MASK64
        return (mix64(self.state) >> 11) / float(1 << 53)


def ranked(values: np.ndarray) -> List[int]:
    """Indices by value, largest first; ties go to the lower index."""
    return sorted(range(len(values)), key=lambda i: (-values[i], i))


def sample_token(logits: np.ndarray, u: float, temperature: float, top_k: int, top_p: float) -> int:
    logits = logits.astype(np.float64).copy()
    size = len(logits)
    if temperature == 0:
        return int(ranked(logits)[0])
    logits /= temperature
    if 0 < top_k < size:
        keep = set(ranked(logits)[:top_k])
        for i in range(size):
            if i not in keep:
                logits[i] = -math.inf
    if top_p < 1:
        finite_max = max(v for v in logits if v != -math.inf)
        weights = [math.exp(v - finite_max) if v != -math.inf else 0.0 for v in logits]
        total = sum(weights)
        order = ranked(np.array(weights))
        kept, mass = set(), 0.0
        for i in order:
            kept.add(i)
            mass += weights[i] / total
            if mass >= top_p:
                break
        for i in range(size):
            if i not in kept:
                logits[i] = -math.inf
    finite_max = max(v for v in logits if v != -math.inf)
    weights = [math.exp(v - finite_max) if v != -math.inf else 0.0 for v in logits]
    target = u * sum(weights)
    cumulative = 0.0
    last_positive = 0
    for i, w in enumerate(weights):
        if w > 0:
            last_positive = i
        cumulative += w
        if cumulative > target:
            return i
    return last_positive


@torch.no_grad()
def reference_generate(gpt, text_ids: List[int], uncond_ids: Optional[List[int]], seed: int, indices: List[int],
                       temperature: float, top_k: int, top_p: float, guidance: float) -> List[List[int]]:
    cfg = gpt.cfg
    gpt.eval()
    results = []
    for index in indices:
        stream = CandidateStream(seed, index)
        cond = list(text_ids)
        uncond = list(uncond_ids) if uncond_ids is not None else None
        codes: List[int] = []
        for _ in range(cfg.image_length):
            logits = gpt(torch.tensor([cond]))[0, -1].double().numpy()[cfg.text_vocab:]
            if guidance != 1 and uncond is not None:
                u_logits = gpt(torch.tensor([uncond]))[0, -1].double().numpy()[cfg.text_vocab:]
                logits = u_logits + guidance * (logits - u_logits)
            code = sample_token(logits, stream.uniform(), temperature, top_k, top_p)
            codes.append(code)
            cond.append(cfg.text_vocab + code)
            if uncond is not None:
                uncond.append(cfg.text_vocab + code)
        results.append(codes)
    return results
