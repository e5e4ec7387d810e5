"""Convert DALL·E Mini/Mega weights in min-dalle's format into a Tessera model package.

  /usr/bin/python3 scripts/convert/min_dalle.py --weights DIR --out DIR [--heads N]
      [--norm-groups 32] [--external-data] [--name NAME] [--cross prefixes|rows]

DIR holds encoder.pt, decoder.pt, detoker.pt, vocab.json and merges.txt (min-dalle's
Mini downloads are named encoder_mini.pt, decoder_mini.pt, vocab_mini.json and
merges_mini.txt; either name is accepted, not both). Mini or Mega is read from the
shapes; --heads gives the head count of any other (shrunk, test) model and
--norm-groups the VQGAN's GroupNorm groups when its widths are shrunk. Every key is
checked: a missing, unexpected or wrong-shaped one stops the conversion, naming it.
The step graph takes cross-attention keys/values once per prefix (--cross prefixes, the
default: scripts/convert/cross_prefixes.py rewrites it after export) or once per row.
The package layout and graph contract are in docs/model-package.md ("encoder-decoder").
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Dict, List, Optional

import torch

from cross_prefixes import rewrite_package, sha256
from min_dalle_export import export_detokenizer, export_encoder, export_prefill, export_step
from min_dalle_modules import TEXT_PAD_ID, Decoder, Detokenizer, Encoder
from min_dalle_spec import (IMAGE_TOKENS, SAMPLED_VOCAB, BartShape, ConversionError, check_state_dict, decoder_spec,
                            detoker_spec, encoder_spec, find, infer_bart, infer_vqgan, load_state_dict_file)
from min_dalle_tokenizer import build_tokenizer_json, read_merges, read_vocab

START_TOKEN = 2 ** 14 - 1  # min-dalle feeds 16383 as the first decoder input (dalle-mini's BOS is the vocab size)
# min-dalle's defaults (MinDalle.generate_raw_image_stream / image_from_text.py).
SAMPLING = {"temperature": 1.0, "topK": 256, "topP": 1.0, "guidanceScale": 16.0}


def manifest(name: str, s: BartShape, vocab: Dict[str, int], files: Dict[str, str]) -> dict:
    unconditional = [vocab["<s>"], vocab["</s>"]] + [TEXT_PAD_ID] * (s.text_length - 2)
    return {
        "format": "tessera-model",
        "formatVersion": 1,
        "name": name,
        "description": (f"DALL·E {s.name.title()}" if s.name != "shrunk" else "A shrunk test model in DALL·E Mini's layout")
                       + f", converted from min-dalle's weights ({s.layers} layers, width {s.embed}, {s.heads} heads)",
        "architecture": "encoder-decoder",
        "text": {"length": s.text_length, "vocabSize": s.text_vocab, "tokenizer": "tokenizer.json",
                 "padId": TEXT_PAD_ID, "unknownId": vocab["<unk>"], "unconditionalIds": unconditional},
        "image": {"size": 256, "grid": {"height": 16, "width": 16}, "vocabSize": SAMPLED_VOCAB},
        "generator": {"layers": s.layers, "heads": s.heads, "headDim": s.head_dim, "maxLength": IMAGE_TOKENS,
                      "prefill": "generator/prefill.onnx", "step": "generator/step.onnx",
                      "cache": {"keys": "plain", "slots": "filled"}},
        "encoderDecoder": {"textEncoder": "text/encoder.onnx", "width": s.embed, "imageStartToken": START_TOKEN},
        "decoder": "vae/decoder.onnx",
        "encoder": None,
        "clip": None,
        "sampling": {"candidates": 4, "keep": 4, **SAMPLING, "previewEvery": 32},
        "files": files,
    }


def convert(weights: str, out: str, heads: Optional[int], norm_groups: int, external: bool, name: str,
            cross: str = "prefixes") -> dict:
    started = time.time()
    enc_sd = load_state_dict_file(find(weights, "encoder", "pt"))
    dec_sd = load_state_dict_file(find(weights, "decoder", "pt"))
    vq_sd = load_state_dict_file(find(weights, "detoker", "pt"))
    shape = infer_bart(enc_sd, dec_sd, heads)
    vq = infer_vqgan(vq_sd, norm_groups)
    check_state_dict(enc_sd, encoder_spec(shape), "encoder.pt")
    check_state_dict(dec_sd, decoder_spec(shape), "decoder.pt")
    check_state_dict(vq_sd, detoker_spec(vq), "detoker.pt")
    if vq.codebook < SAMPLED_VOCAB:
        raise ConversionError(f"detoker.pt: embedding.weight has {vq.codebook} codes, the decoder samples {SAMPLED_VOCAB}")

    vocab = read_vocab(find(weights, "vocab", "json"))
    merges = read_merges(find(weights, "merges", "txt"))
    too_big = [t for t, i in vocab.items() if not 0 <= i < shape.text_vocab]
    if too_big:
        raise ConversionError(f"vocab.json: token {too_big[0]!r} has an id outside the encoder's {shape.text_vocab} embeddings")
    if vocab["<pad>"] != TEXT_PAD_ID:
        raise ConversionError(f"vocab.json: <pad> is {vocab['<pad>']}; min-dalle masks id {TEXT_PAD_ID}")

    def loaded(module: torch.nn.Module, sd: Dict[str, torch.Tensor]) -> torch.nn.Module:
        module.load_state_dict(sd, strict=True)  # casts float16 files to the float32 parameters
        sd.clear()  # drop the file's tensors now: Mega's decoder alone is ~6 GB in float32
        return module.eval()

    for sub in ("text", "generator", "vae"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    written: List[str] = []
    # One model in memory at a time (Mega: ~4.4 GB encoder, ~6 GB decoder, plus the exporter's copy).
    encoder = loaded(Encoder(shape), enc_sd)
    written += export_encoder(encoder, shape, os.path.join(out, "text/encoder.onnx"), external)
    del encoder
    decoder = loaded(Decoder(shape), dec_sd)
    written += export_prefill(decoder, shape, os.path.join(out, "generator/prefill.onnx"), external)
    written += export_step(decoder, shape, os.path.join(out, "generator/step.onnx"), external)
    del decoder
    written += export_detokenizer(loaded(Detokenizer(vq), vq_sd), os.path.join(out, "vae/decoder.onnx"), external)
    tokenizer_path = os.path.join(out, "tokenizer.json")
    with open(tokenizer_path, "w", encoding="utf8") as f:
        json.dump(build_tokenizer_json(vocab, merges), f, ensure_ascii=False)
    written.append(tokenizer_path)

    files = {os.path.relpath(p, out).replace(os.sep, "/"): sha256(p) for p in sorted(written)}
    m = manifest(name, shape, vocab, files)
    with open(os.path.join(out, "manifest.json"), "w", encoding="utf8") as f:
        json.dump(m, f, indent=2, ensure_ascii=False)
        f.write("\n")
    if cross == "prefixes":
        rewrite_package(out)
        with open(os.path.join(out, "manifest.json"), encoding="utf8") as f:
            m = json.load(f)
    print(f"converted DALL·E {shape.name} ({shape.layers} layers, width {shape.embed}, {shape.heads} heads, "
          f"VQGAN widths {vq.widths}) to {out} in {time.time() - started:.1f} s")
    return m


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", required=True, help="folder with encoder.pt, decoder.pt, detoker.pt, vocab.json, merges.txt")
    ap.add_argument("--out", required=True, help="package folder to write")
    ap.add_argument("--heads", type=int, default=None, help="attention heads (only for models that are neither Mini nor Mega)")
    ap.add_argument("--norm-groups", type=int, default=32, help="VQGAN GroupNorm groups (32 in the real VQGAN)")
    ap.add_argument("--external-data", action="store_true", help="store every graph's weights in <graph>.onnx.data")
    ap.add_argument("--name", default=None, help="package name (default: the output folder's name)")
    ap.add_argument("--cross", choices=["prefixes", "rows"], default="prefixes",
                    help="the step graph takes cross keys/values once per prefix (default) or once per row")
    args = ap.parse_args(argv)
    torch.set_grad_enabled(False)
    try:
        convert(args.weights, args.out, args.heads, args.norm_groups, args.external_data,
                args.name or os.path.basename(os.path.abspath(args.out)), args.cross)
    except ConversionError as error:
        print(f"min_dalle.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
