"""Export a trained (or random) VQ-VAE to the model package's vae/encoder.onnx and vae/decoder.onnx.

  /usr/bin/python3 scripts/train/export_vqvae.py --ckpt checkpoints/vqvae --out models/default
  /usr/bin/python3 scripts/train/export_vqvae.py --random --seed 0 --tiny --codebook 64 --out /tmp/pkg

Graphs (docs/model-package.md, "Image tokenizer graphs"), dynamic batch:
  vae/encoder.onnx  images float32 [B,3,64,64] in [0,1] -> codes int64 [B,8,8]
  vae/decoder.onnx  codes int64 [B,8,8] -> images float32 [B,3,64,64] clamped to [0,1]

Each graph is checked with onnx.checker; with onnxruntime (Python) present it is also
compared against PyTorch here. `--ref DIR` writes reference inputs/outputs (.npy) that
scripts/train/check-onnx.mjs compares against onnxruntime-node (and times the decoder).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vqvae import VQVAE, VQVAEConfig, load_vqvae, tiny_config  # noqa: E402


class _Enc(torch.nn.Module):
    def __init__(self, m: VQVAE):
        super().__init__()
        self.m = m

    def forward(self, images):
        return self.m.encode(images)


class _Dec(torch.nn.Module):
    def __init__(self, m: VQVAE):
        super().__init__()
        self.m = m

    def forward(self, codes):
        return self.m.decode(codes)


def export(model: VQVAE, out_dir: str, opset: int = 14) -> tuple[str, str]:
    model = model.eval().float().cpu()
    vae_dir = os.path.join(out_dir, "vae")
    os.makedirs(vae_dir, exist_ok=True)
    size, grid = model.cfg.image_size, model.cfg.grid
    enc_path = os.path.join(vae_dir, "encoder.onnx")
    dec_path = os.path.join(vae_dir, "decoder.onnx")
    images = torch.rand(2, model.cfg.channels, size, size)
    codes = torch.randint(0, model.cfg.codebook_size, (2, grid, grid), dtype=torch.long)
    kw = {}
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        kw["dynamo"] = False          # torch >= 2.9 defaults to the dynamo exporter; keep the tracer
    with warnings.catch_warnings():
        warnings.filterwarnings("error", category=torch.jit.TracerWarning)
        with torch.no_grad():
            torch.onnx.export(_Enc(model), (images,), enc_path, input_names=["images"],
                              output_names=["codes"], dynamic_axes={"images": {0: "batch"}, "codes": {0: "batch"}},
                              opset_version=opset, do_constant_folding=True, **kw)
            torch.onnx.export(_Dec(model), (codes,), dec_path, input_names=["codes"],
                              output_names=["images"], dynamic_axes={"codes": {0: "batch"}, "images": {0: "batch"}},
                              opset_version=opset, do_constant_folding=True, **kw)
    check_graphs(enc_path, dec_path, model)
    return enc_path, dec_path


def check_graphs(enc_path: str, dec_path: str, model: VQVAE) -> None:
    import onnx
    size, grid, c = model.cfg.image_size, model.cfg.grid, model.cfg.channels
    expect = {
        enc_path: (("images", onnx.TensorProto.FLOAT, ["batch", c, size, size]),
                   ("codes", onnx.TensorProto.INT64, ["batch", grid, grid])),
        dec_path: (("codes", onnx.TensorProto.INT64, ["batch", grid, grid]),
                   ("images", onnx.TensorProto.FLOAT, ["batch", c, size, size])),
    }
    for path, (want_in, want_out) in expect.items():
        g = onnx.load(path)
        onnx.checker.check_model(g)
        for (vi, want) in ((g.graph.input[0], want_in), (g.graph.output[0], want_out)):
            t = vi.type.tensor_type
            dims = [d.dim_param or d.dim_value for d in t.shape.dim]
            got = (vi.name, t.elem_type, dims)
            if got != want:
                raise SystemExit(f"{path}: io {got} != expected {want}")
        if len(g.graph.input) != 1 or len(g.graph.output) != 1:
            raise SystemExit(f"{path}: expected exactly one input and one output")
    try:
        import onnxruntime as ort  # optional: not installed on every machine
    except ImportError:
        print("onnx.checker ok (onnxruntime not installed in Python: verify with scripts/train/check-onnx.mjs)")
        return
    g = torch.Generator().manual_seed(0)
    images = torch.rand(5, c, size, size, generator=g)
    with torch.no_grad():
        codes = model.encode(images)
        recon = model.decode(codes)
    enc = ort.InferenceSession(enc_path, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(dec_path, providers=["CPUExecutionProvider"])
    got_codes = enc.run(None, {"images": images.numpy()})[0]
    agree = float((got_codes == codes.numpy()).mean())
    got_img = dec.run(None, {"codes": codes.numpy()})[0]
    err = float(np.abs(got_img - recon.numpy()).max())
    print(f"onnxruntime check: encoder code agreement {agree:.4f}, decoder max abs err {err:.2e}")
    if agree < 0.99 or err > 1e-4:
        raise SystemExit("onnxruntime output differs from PyTorch")


def write_reference(model: VQVAE, ref_dir: str, images: np.ndarray | None = None) -> None:
    """Reference inputs/outputs for check-onnx.mjs: images [B,3,H,W] f32, codes [B,h,w] i64, recon f32."""
    os.makedirs(ref_dir, exist_ok=True)
    size, c = model.cfg.image_size, model.cfg.channels
    if images is None:
        g = torch.Generator().manual_seed(0)
        x = torch.rand(8, c, size, size, generator=g)
    else:
        x = torch.from_numpy(images.astype(np.float32) / 255.0).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        codes = model.encode(x)
        recon = model.decode(codes)
    np.save(os.path.join(ref_dir, "images.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(ref_dir, "codes.npy"), codes.numpy().astype(np.int64))
    np.save(os.path.join(ref_dir, "recon.npy"), recon.numpy().astype(np.float32))
    with open(os.path.join(ref_dir, "meta.json"), "w") as f:
        json.dump({"codebook_size": model.cfg.codebook_size, "grid": model.cfg.grid,
                   "image_size": size}, f)
    print(f"reference tensors -> {ref_dir}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", help="checkpoint folder with config.json + weights.pt")
    ap.add_argument("--out", required=True, help="model package folder (vae/ is written inside)")
    ap.add_argument("--random", action="store_true", help="export an untrained, randomly initialised VQ-VAE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="with --random: tiny config for tests")
    ap.add_argument("--codebook", type=int, default=None, help="with --random: codebook size")
    ap.add_argument("--opset", type=int, default=14)
    ap.add_argument("--ref", help="write reference .npy tensors here for check-onnx.mjs")
    ap.add_argument("--ref-data", help="dataset folder: use its first 8 images for the reference")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.random:
        torch.manual_seed(args.seed)
        if args.tiny:
            cfg = tiny_config(args.codebook or 64)
        else:
            cfg = VQVAEConfig()
            if args.codebook:
                cfg.codebook_size = args.codebook
        model = VQVAE(cfg)
        # seed the codebook from encoder outputs of random images (k-means++), so that even
        # an untrained tokenizer emits varied codes rather than one code everywhere
        with torch.no_grad():
            z = model.encoder(torch.rand(16, cfg.channels, cfg.image_size, cfg.image_size) * 2 - 1)
            model.quantizer._init_from(z.permute(0, 2, 3, 1).reshape(-1, cfg.embed_dim))
    else:
        if not args.ckpt:
            ap.error("--ckpt is required unless --random")
        model = load_vqvae(args.ckpt)
    enc, dec = export(model, args.out, args.opset)
    for p in (enc, dec):
        print(f"{p}: {os.path.getsize(p) / 1e6:.2f} MB")
    print(json.dumps({"image": {"size": model.cfg.image_size,
                                "grid": {"height": model.cfg.grid, "width": model.cfg.grid},
                                "vocabSize": model.cfg.codebook_size}}))
    if args.ref:
        images = None
        if args.ref_data:
            from data import load_shapes
            images = np.asarray(load_shapes(args.ref_data, limit=8).images)
        write_reference(model, args.ref, images)


if __name__ == "__main__":
    main()
