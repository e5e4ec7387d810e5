"""Reference outputs of min-dalle's OWN code (kept outside the repo) on a set of weights.

  /usr/bin/python3 scripts/convert/min_dalle_reference.py --min-dalle-src /work/refs/min-dalle-src \
      --weights /work/refs/tiny-weights --heads 4 --norm-groups 8 --out test/fixtures/min-dalle

min-dalle's TextTokenizer, DalleBartEncoder, DalleBartDecoder and its sampling loop
(MinDalle.generate_raw_image_stream) run unchanged; only the object is assembled by
hand (MinDalle.__init__ downloads, and hard-codes Mini/Mega sizes) and the final
detokenizing call is replaced by one that returns the 256 tokens, because min-dalle's
VQGAN code hard-codes the real widths. Its detokenizer is compared separately at the
real widths (--detoker-check), by check_min_dalle.py.

Written to --out: reference.json (tokenizer ids for a list of prompts, greedy tokens with
top-k 1 and supercondition 16, min-dalle's encoder states) and, from this project's
PyTorch modules on deterministic inputs, the step-graph and detokenizer references
(step_logits.npy, detokenizer_sample.npy) that the ONNX graphs are tested against.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import torch

from min_dalle_modules import Decoder, Detokenizer
from min_dalle_spec import find, infer_bart, infer_vqgan, load_state_dict_file

TOKENIZER_PROMPTS = [
    "", "   ", "a cat", "A Cat", "a  cat ", "Dali painting of WALL·E", "an armchair in the shape of an avocado.",
    "Photo of a PANDA wearing a tophat, detailed!", "riding a bicycle... under the moon?!", "xyzzy qwfp zzgrk",
    "tilde~caret^pipe|backtick`", "naïve café Ünïcödé — “quotes”", "tab\tseparated\nnew line", "İstanbul KELVIN",
    "cats cats cats " * 30, "a photograph of an astronaut riding a horse in the style of van gogh, high quality, "
    "oil painting, golden sunset over mountains, blue sky with clouds and stars, a castle near the river",
]
GREEDY_PROMPTS = ["a red cat", "Dali painting of a robot on the moon", "xyzzy"]
SETTINGS = {"seed": 1, "grid_size": 1, "temperature": 1.0, "top_k": 1, "supercondition_factor": 16}
DETOKENIZER_STRIDE = 7


def formula(n: int, phase: float) -> np.ndarray:
    """Deterministic float32 values the test can recompute in JS: 1.5 * sin(0.731 i + phase)."""
    return (1.5 * np.sin(np.arange(n, dtype=np.float64) * 0.731 + phase)).astype(np.float32)


def step_inputs(s):
    """Three rows at positions 0 (start token), 77 and 200, text lengths 2, 9 and 64."""
    rows, slots, t, h, d = 3, 256, s.text_length, s.heads, s.head_dim
    positions = np.array([[0], [77], [200]], dtype=np.int64)
    ids = np.array([[2 ** 14 - 1], [123], [9999]], dtype=np.int64)
    mask = (np.arange(slots)[None, :] < positions).astype(np.float32)
    text_mask = (np.arange(t)[None, :] < np.array([[2], [9], [64]])).astype(np.float32)
    feeds = [ids, positions, mask, text_mask]
    for phase, shape in ((0.1, (rows, h, d, slots)), (0.2, (rows, h, slots, d)), (0.3, (rows, h, d, t)), (0.4, (rows, h, t, d))):
        feeds += [formula(int(np.prod(shape)), l + phase).reshape(shape) for l in range(s.layers)]
    return [torch.from_numpy(x) for x in feeds]


def min_dalle_model(src: str, weights: str, shape, vocab_path: str, merges_path: str):
    sys.path.insert(0, src)
    from min_dalle.min_dalle import MinDalle  # noqa: E402  (min-dalle's own code, outside the repo)
    from min_dalle.models import DalleBartDecoder, DalleBartEncoder
    from min_dalle.text_tokenizer import TextTokenizer

    md = MinDalle.__new__(MinDalle)
    md.device, md.is_mega, md.is_reusable, md.dtype, md.is_verbose = "cpu", shape.name == "mega", True, torch.float32, False
    md.text_token_count, md.layer_count, md.attention_head_count = shape.text_length, shape.layers, shape.heads
    md.embed_count, md.glu_embed_count = shape.embed, shape.glu
    md.text_vocab_count, md.image_vocab_count = shape.text_vocab, shape.image_vocab
    # As MinDalle.init_tokenizer reads them.
    with open(vocab_path, "r", encoding="utf8") as f:
        vocab = json.load(f)
    with open(merges_path, "r", encoding="utf8") as f:
        merges = f.read().split("\n")[1:-1]
    md.tokenizer = TextTokenizer(vocab, merges)
    # As MinDalle.init_encoder / init_decoder build and load them (strict=False is theirs).
    md.encoder = DalleBartEncoder(attention_head_count=shape.heads, embed_count=shape.embed, glu_embed_count=shape.glu,
                                  text_token_count=shape.text_length, text_vocab_count=shape.text_vocab,
                                  layer_count=shape.layers, device="cpu").eval()
    md.encoder.load_state_dict(torch.load(find(weights, "encoder", "pt")), strict=False)
    md.decoder = DalleBartDecoder(image_vocab_count=shape.image_vocab, attention_head_count=shape.heads,
                                  embed_count=shape.embed, glu_embed_count=shape.glu, layer_count=shape.layers,
                                  device="cpu").eval()
    md.decoder.load_state_dict(torch.load(find(weights, "decoder", "pt")), strict=False)
    md.image_grid_from_tokens = lambda image_tokens, is_seamless, is_verbose=False: image_tokens.clone()
    return md


def text_tokens(md, prompt: str) -> torch.Tensor:
    """min-dalle's [unconditional, conditional] text rows, built as generate_raw_image_stream does."""
    tokens = md.tokenizer.tokenize(prompt)[: md.text_token_count]
    rows = np.ones((2, 64), dtype=np.int32)
    rows[0, :2] = [tokens[0], tokens[-1]]
    rows[1, : len(tokens)] = tokens
    return torch.tensor(rows, dtype=torch.long)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min-dalle-src", required=True)
    ap.add_argument("--weights", required=True)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--norm-groups", type=int, default=32)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_grad_enabled(False)
    enc_sd = load_state_dict_file(find(args.weights, "encoder", "pt"))
    dec_sd = load_state_dict_file(find(args.weights, "decoder", "pt"))
    shape = infer_bart(enc_sd, dec_sd, args.heads)
    md = min_dalle_model(args.min_dalle_src, args.weights, shape, find(args.weights, "vocab", "json"),
                         find(args.weights, "merges", "txt"))

    ref = {"source": f"min-dalle (github.com/kuprel/min-dalle) on {os.path.basename(os.path.abspath(args.weights))}",
           "tokenizer": [{"prompt": p, "ids": md.tokenizer.tokenize(p)} for p in TOKENIZER_PROMPTS]}
    first = text_tokens(md, GREEDY_PROMPTS[1])
    states = md.encoder.forward(first)  # [2, 64, E]
    ref["encoder"] = {"input_ids": first.tolist(), "encoder_state": states.reshape(-1).tolist()}
    cases = []
    for prompt in GREEDY_PROMPTS:
        stream = md.generate_raw_image_stream(prompt, SETTINGS["seed"], SETTINGS["grid_size"],
                                              temperature=SETTINGS["temperature"], top_k=SETTINGS["top_k"],
                                              supercondition_factor=SETTINGS["supercondition_factor"])
        tokens = next(stream)[0]  # [256]
        rows = text_tokens(md, prompt)
        cases.append({"prompt": prompt, "conditionalIds": rows[1].tolist(), "unconditionalIds": rows[0].tolist(),
                      "tokens": tokens.tolist()})
        print(f"{prompt!r}: {len(set(tokens.tolist()))} distinct tokens, first {tokens[:8].tolist()}")
    ref["greedy"] = {"settings": SETTINGS, "cases": cases}

    # This project's modules (checked against min-dalle by check_min_dalle.py) on fixed inputs.
    decoder = Decoder(shape).eval()
    decoder.load_state_dict(dec_sd, strict=True)
    # step_inputs writes past keys transposed [R, H, D, S] (the fixture's formula); the
    # modules take them plain [R, H, S, D].
    past_k, past_v, cross_k, cross_v = split(step_inputs(shape)[4:], shape.layers)
    logits, new_k, new_v = decoder.step(*step_inputs(shape)[:4], [k.transpose(-1, -2).contiguous() for k in past_k], past_v, cross_k, cross_v)
    np.save(os.path.join(args.out, "step_logits.npy"), logits.numpy().astype(np.float32))
    ref["step"] = {"inputs": "min_dalle_reference.step_inputs", "logits": "step_logits.npy",
                   "new_keys_sum": float(new_k.double().sum()), "new_values_sum": float(new_v.double().sum()),
                   "new_keys_abs_sum": float(new_k.double().abs().sum())}
    vq_sd = load_state_dict_file(find(args.weights, "detoker", "pt"))
    detok = Detokenizer(infer_vqgan(vq_sd, args.norm_groups)).eval()
    detok.load_state_dict(vq_sd, strict=True)
    codes = torch.tensor(cases[0]["tokens"]).reshape(1, 16, 16)
    pixels = detok(codes).reshape(-1)[::DETOKENIZER_STRIDE]
    np.save(os.path.join(args.out, "detokenizer_sample.npy"), pixels.numpy().astype(np.float32))
    ref["detokenizer"] = {"codes": "greedy.cases[0].tokens", "stride": DETOKENIZER_STRIDE, "sample": "detokenizer_sample.npy"}
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf8") as f:
        json.dump(ref, f, ensure_ascii=False)
    print(f"wrote {args.out}/reference.json, step_logits.npy, detokenizer_sample.npy")


def split(per_layer, layers: int):
    return [per_layer[i * layers:(i + 1) * layers] for i in range(4)]


if __name__ == "__main__":
    main()
