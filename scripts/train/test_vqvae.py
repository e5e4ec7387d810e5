"""Fast checks of the VQ-VAE tokenizer (tiny config, CPU, a few seconds).

  /usr/bin/python3 -m unittest scripts/train/test_vqvae.py -v
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vq_codebook import codebook_stats  # noqa: E402
from vqvae import VQVAE, VQVAEConfig, fp16_state_dict, load_vqvae, tiny_config  # noqa: E402

torch.set_num_threads(2)


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """Plain backgrounds with one coloured square each: [n,3,64,64] in [0,1]."""
    g = np.random.default_rng(seed)
    x = np.ones((n, 3, 64, 64), np.float32) * g.uniform(0, 1, (n, 3, 1, 1)).astype(np.float32)
    for i in range(n):
        r, c, s = g.integers(0, 40), g.integers(0, 40), g.integers(8, 24)
        x[i, :, r:r + s, c:c + s] = g.uniform(0, 1, (3, 1, 1))
    return torch.from_numpy(x)


class ConfigTest(unittest.TestCase):
    def test_roundtrip_and_strict_keys(self):
        cfg = tiny_config(32)
        d = cfg.to_dict()
        self.assertEqual(VQVAEConfig.from_dict(d), cfg)
        with self.assertRaisesRegex(ValueError, "unknown keys"):
            VQVAEConfig.from_dict({**d, "bogus": 1})
        d.pop("embed_dim")
        with self.assertRaisesRegex(ValueError, "missing keys"):
            VQVAEConfig.from_dict(d)

    def test_grid(self):
        self.assertEqual(VQVAEConfig().grid, 8)


class ModelTest(unittest.TestCase):
    def test_shapes_and_dtypes(self):
        m = VQVAE(tiny_config(32)).eval()
        x = torch.rand(3, 3, 64, 64)
        with torch.no_grad():
            codes = m.encode(x)
            img = m.decode(codes)
        self.assertEqual(codes.shape, (3, 8, 8))
        self.assertEqual(codes.dtype, torch.int64)
        self.assertEqual(img.shape, (3, 3, 64, 64))
        self.assertGreaterEqual(float(img.min()), 0.0)
        self.assertLessEqual(float(img.max()), 1.0)

    def test_no_collapse_and_loss_drops(self):
        torch.manual_seed(0)
        cfg = tiny_config(32)
        cfg.quant_warmup = 20
        m = VQVAE(cfg)
        opt = torch.optim.Adam(m.parameters(), lr=2e-3)
        data = blobs(256)
        first = None
        for step in range(80):
            x = data[torch.randint(0, 256, (32,))]
            out = m(x)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            if first is None:
                first = float(out["mse"])
        self.assertEqual(int(m.quantizer.initialized), 1)
        self.assertLess(float(out["mse"]), first * 0.7)
        m.eval()
        with torch.no_grad():
            codes = m.encode(data)
        ppl, used = codebook_stats(codes, cfg.codebook_size)
        self.assertGreaterEqual(used, 8, f"codebook collapsed: {used} codes, perplexity {ppl:.1f}")

    def test_dead_codes_restart(self):
        torch.manual_seed(0)
        cfg = tiny_config(16)
        cfg.quant_warmup = 0
        q = VQVAE(cfg).quantizer.train()
        z = torch.randn(4, cfg.embed_dim, 8, 8)
        q(z)                                                  # k-means++ seeding
        q.embedding[:8] = 1e3                                 # push half the codes far away
        q.cluster_size[:8] = 0.5                              # ... and mark them long unused
        q.embed_avg[:8] = 1e3 * 0.5
        for _ in range(3 * cfg.restart_every):
            q(z)
        self.assertLess(float(q.embedding.abs().max()), 100.0, "dead codes were not restarted")

    def test_fp16_save_load(self):
        m = VQVAE(tiny_config(32)).eval()
        with tempfile.TemporaryDirectory() as d:
            m.cfg.save(os.path.join(d, "config.json"))
            torch.save(fp16_state_dict(m), os.path.join(d, "weights.pt"))
            m2 = load_vqvae(d)
            x = torch.rand(2, 3, 64, 64)
            with torch.no_grad():
                self.assertEqual(m2.decode(m2.encode(x)).shape, (2, 3, 64, 64))
            cfg = json.load(open(os.path.join(d, "config.json")))
            cfg["extra"] = 1
            with open(os.path.join(d, "config.json"), "w") as f:
                json.dump(cfg, f)
            with self.assertRaises(ValueError):
                load_vqvae(d)


class ExportTest(unittest.TestCase):
    def test_export_tiny(self):
        from export_vqvae import export
        import onnx
        m = VQVAE(tiny_config(32))
        with tempfile.TemporaryDirectory() as d:
            enc, dec = export(m, d)
            for p in (enc, dec):
                onnx.checker.check_model(onnx.load(p))


if __name__ == "__main__":
    unittest.main()
