"""Self-check of the min-dalle converter (no pytest): exits non-zero on the first failure.

  OMP_WAIT_POLICY=PASSIVE nice -n 10 /usr/bin/python3 scripts/convert/check_min_dalle.py \
      --min-dalle-src /work/refs/min-dalle-src --weights /work/refs/tiny-weights --heads 4 --norm-groups 8 \
      [--real-detoker /work/refs/tiny-realvq]

1. Strictness: a missing, unexpected, wrong-shaped or integer key stops the conversion
   with a message naming it; unknown shapes without --heads are refused.
2. This project's modules against min-dalle's own code (outside the repo) on the same
   weights: encoder states, and the 256 greedy tokens (top-k 1, supercondition 16) from
   this project's slot-based step (the step graph's computation) against min-dalle's loop.
3. The converter end to end, with --external-data forced: every graph is checked by
   onnx.checker and has its weights in `<graph>.onnx.data`; the manifest hashes every file.
4. With --real-detoker: this project's VQGAN detokenizer against min-dalle's at the real
   widths (min-dalle's VQGAN code hard-codes them).
"""
from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys
import tempfile

import onnx
import torch

from min_dalle_modules import Decoder, Detokenizer, Encoder
from min_dalle_reference import GREEDY_PROMPTS, min_dalle_model, text_tokens
from min_dalle_spec import (ConversionError, check_state_dict, decoder_spec, encoder_spec, find, infer_bart, infer_vqgan,
                            load_state_dict_file)

failures = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failures.append(what)


def expect_error(fn, needle: str, what: str) -> None:
    try:
        fn()
    except ConversionError as error:
        check(needle in str(error), f"{what}: {error}")
        return
    check(False, f"{what}: no error")


def strictness(enc, dec, heads) -> None:
    shape = infer_bart(enc, dec, heads)
    spec = encoder_spec(shape)
    missing = dict(enc)
    del missing["layers.1.self_attn.q_proj.weight"]
    expect_error(lambda: check_state_dict(missing, spec, "encoder.pt"), "layers.1.self_attn.q_proj.weight", "missing key named")
    extra = dict(enc, **{"layers.0.pre_self_attn_layer_norm.weight": torch.ones(shape.embed)})
    expect_error(lambda: check_state_dict(extra, spec, "encoder.pt"), "layers.0.pre_self_attn_layer_norm.weight",
                 "unexpected key named (a scale dalle-mini's NormFormer does not have)")
    wrong = dict(dec, **{"layers.0.glu.fc2.weight": torch.zeros(shape.embed, shape.glu + 1)})
    expect_error(lambda: check_state_dict(wrong, decoder_spec(shape), "decoder.pt"), "layers.0.glu.fc2.weight", "wrong shape named")
    ints = dict(enc, **{"final_ln.bias": torch.zeros(shape.embed, dtype=torch.long)})
    expect_error(lambda: check_state_dict(ints, spec, "encoder.pt"), "final_ln.bias", "integer tensor named")
    expect_error(lambda: infer_bart(enc, dec, None), "--heads", "unknown shapes need --heads")
    expect_error(lambda: infer_bart(enc, dec, 3), "does not divide", "--heads must divide the width")
    check_state_dict(enc, spec, "encoder.pt")
    check_state_dict(dec, decoder_spec(shape), "decoder.pt")
    check(True, "the tiny files pass the strict check")


def greedy(encoder: Encoder, decoder: Decoder, rows: torch.Tensor, factor: float):
    """256 tokens through the slot-based step, rows = [unconditional, conditional] texts."""
    s = decoder.shape
    state = encoder(rows)  # [2, T, E]
    cross_k, cross_v = decoder.cross(state)  # [L, 2, H, D, T], [L, 2, H, T, D]
    text_mask = rows.ne(1).float()
    past_k = [torch.zeros(2, s.heads, 256, s.head_dim) for _ in range(s.layers)]
    past_v = [torch.zeros(2, s.heads, 256, s.head_dim) for _ in range(s.layers)]
    mask = torch.zeros(2, 256)
    token, tokens = 2 ** 14 - 1, []
    for i in range(256):
        ids = torch.full((2, 1), token)
        logits, new_k, new_v = decoder.step(ids, torch.full((2, 1), i), mask, text_mask, past_k, past_v,
                                            list(cross_k), list(cross_v))
        for l in range(s.layers):
            past_k[l][:, :, i, :] = new_k[l, :, :, 0, :]
            past_v[l][:, :, i, :] = new_v[l, :, :, 0, :]
        mask[:, i] = 1
        mixed = logits[0] * (1 - factor) + logits[1] * factor  # min-dalle's supercondition formula
        token = int(mixed.argmax())
        tokens.append(token)
    return tokens


def against_min_dalle(args, enc, dec) -> None:
    shape = infer_bart(enc, dec, args.heads)
    md = min_dalle_model(args.min_dalle_src, args.weights, shape, find(args.weights, "vocab", "json"),
                         find(args.weights, "merges", "txt"))
    encoder, decoder = Encoder(shape).eval(), Decoder(shape).eval()
    encoder.load_state_dict(enc, strict=True)
    decoder.load_state_dict(dec, strict=True)
    for prompt in GREEDY_PROMPTS:
        rows = text_tokens(md, prompt)
        diff = float((encoder(rows) - md.encoder.forward(rows)).abs().max())
        check(diff < 1e-5, f"encoder states of {prompt!r} match min-dalle's (max abs diff {diff:.2e})")
        theirs = next(md.generate_raw_image_stream(prompt, 1, 1, temperature=1, top_k=1, supercondition_factor=16))[0].tolist()
        ours = greedy(encoder, decoder, rows, 16.0)
        same = sum(a == b for a, b in zip(ours, theirs))
        check(same == 256, f"greedy tokens of {prompt!r} equal min-dalle's ({same}/256)")


def converter(args) -> None:
    with tempfile.TemporaryDirectory() as out:
        # This project's converter, by path: the name min_dalle is min-dalle's own package here.
        spec = importlib.util.spec_from_file_location("tessera_min_dalle", os.path.join(os.path.dirname(__file__), "min_dalle.py"))
        converter_cli = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(converter_cli)
        code = converter_cli.main(["--weights", args.weights, "--out", out, "--heads", str(args.heads),
                                   "--norm-groups", str(args.norm_groups), "--external-data"])
        check(code == 0, "converter exits 0 with --external-data")
        with open(os.path.join(out, "manifest.json"), encoding="utf8") as f:
            manifest = json.load(f)
        graphs = ["text/encoder.onnx", "generator/prefill.onnx", "generator/step.onnx", "vae/decoder.onnx"]
        for graph in graphs:
            model = onnx.load(os.path.join(out, graph), load_external_data=False)
            external = [t.name for t in model.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
            check(len(external) == len(model.graph.initializer) > 0 and graph + ".data" in manifest["files"],
                  f"{graph}: all {len(external)} weights in {graph}.data, hashed in the manifest")
            onnx.checker.check_model(os.path.join(out, graph))
        check(manifest["architecture"] == "encoder-decoder" and manifest["encoder"] is None, "manifest: encoder-decoder, no VQGAN encoder")
        broken = os.path.join(out, "broken")
        os.makedirs(broken)
        for name in ("decoder.pt", "detoker.pt", "vocab.json", "merges.txt"):
            os.symlink(find(args.weights, *name.split(".")), os.path.join(broken, name))
        enc = load_state_dict_file(find(args.weights, "encoder", "pt"))
        del enc["layers.0.glu.fc1.weight"]
        torch.save(enc, os.path.join(broken, "encoder.pt"))
        code = converter_cli.main(["--weights", broken, "--out", os.path.join(out, "never"), "--heads", str(args.heads),
                                   "--norm-groups", str(args.norm_groups)])
        check(code == 1 and not os.path.exists(os.path.join(out, "never", "manifest.json")),
              "converter exits 1 on a missing key and writes no manifest")


def real_detoker(args) -> None:
    sys.path.insert(0, args.min_dalle_src)
    from min_dalle.models import VQGanDetokenizer
    sd = load_state_dict_file(find(args.real_detoker, "detoker", "pt"))
    theirs = VQGanDetokenizer().eval()
    theirs.load_state_dict(copy.deepcopy(sd))  # strict, as min-dalle loads it
    ours = Detokenizer(infer_vqgan(sd, 32)).eval()
    ours.load_state_dict(sd, strict=True)
    codes = torch.randint(0, 2 ** 14, (1, 256), generator=torch.Generator().manual_seed(3))
    expected = theirs.forward(False, codes)  # [256, 256, 3] in [0, 255]
    got = ours(codes.reshape(1, 16, 16))[0].permute(1, 2, 0) * 255
    diff = float((expected - got).abs().max())
    check(diff < 1e-2, f"real-width detokenizer matches min-dalle's (max abs diff {diff:.2e} of 255)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-dalle-src", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--norm-groups", type=int, default=32)
    ap.add_argument("--real-detoker", default=None)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    enc = load_state_dict_file(find(args.weights, "encoder", "pt"))
    dec = load_state_dict_file(find(args.weights, "decoder", "pt"))
    strictness(enc, dec, args.heads)
    against_min_dalle(args, enc, dec)
    converter(args)
    if args.real_detoker:
        real_detoker(args)
    print(f"{len(failures)} failure(s)" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
