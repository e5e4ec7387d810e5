"""Random state dicts in min-dalle's exact format (key names, layout, dtypes), dimensions shrunk.

  /usr/bin/python3 scripts/convert/make_tiny_min_dalle.py --out /work/refs/tiny-weights [--preset tiny|mini|mega] [--real-detoker]

Writes encoder.pt and decoder.pt (float16, as min-dalle's published files are), detoker.pt
(float32), and a small BPE vocab.json + merges.txt learned from a fixed word list (BART's
special-token ids: <s> 0, <pad> 1, </s> 2, <unk> 3). The image vocabulary stays 16384
(+1 row): min-dalle samples from the first 2**14 logits and starts from token 16383.
The tiny preset has 2 layers, width 16, 4 heads; `--preset mini` / `--preset mega` have DALL·E
Mini's / Mega's shapes (for speed and memory measurements; Mega's files are ~5 GB); `--real-detoker` gives the VQGAN its real widths, which
min-dalle's own detokenizer code needs (its widths are hard-coded).
"""
from __future__ import annotations

import argparse
import collections
import json
import os

import torch

from min_dalle_spec import BartShape, VqganShape, decoder_spec, detoker_spec, encoder_spec

TINY_BART = BartShape("shrunk", layers=2, embed=16, heads=4, glu=40, text_vocab=0, text_length=64, image_vocab=16384)
MINI_BART = BartShape("mini", layers=12, embed=1024, heads=16, glu=2730, text_vocab=50264, text_length=64, image_vocab=16384)
MEGA_BART = BartShape("mega", layers=24, embed=2048, heads=32, glu=4096, text_vocab=50272, text_length=64, image_vocab=16415)
TINY_VQGAN = VqganShape(codebook=16384, latent=16, widths=(8, 16, 32), groups=8)
REAL_VQGAN = VqganShape(codebook=16384, latent=256, widths=(128, 256, 512), groups=32)

CORPUS = """a an the of on in with and at by to from under over near beside behind
cat cats dog dogs bird birds horse fish panda pandas fox owl robot robots astronaut
red green blue yellow orange purple black white golden silver pink brown gray
painting photo photograph drawing sketch illustration oil watercolor pencil portrait
landscape city street forest mountain mountains river sea ocean beach desert snow
sunset sunrise night day sky clouds moon stars space planet castle house tower bridge
small big large tiny giant old young happy sad wearing riding sitting standing flying
hat tophat glasses armchair avocado shaped chair table teapot clock lamp car bicycle
dali picasso van gogh monet style by in the style of high quality detailed
""".split()
MERGES = 220
LEFT_OUT = set("~^`|")  # characters kept out of the vocabulary, so prompts can hit <unk>


def train_bpe(words, merges: int):
    """Plain BPE over 'Ġ'-prefixed words: repeatedly merge the most frequent adjacent pair."""
    counts = collections.Counter("\u0120" + w for w in words)
    split = {w: list(w) for w in counts}
    ranks = []
    for _ in range(merges):
        pairs = collections.Counter()
        for w, symbols in split.items():
            for a, b in zip(symbols, symbols[1:]):
                pairs[(a, b)] += counts[w]
        if not pairs:
            break
        best = max(pairs.items(), key=lambda item: (item[1], item[0]))[0]
        ranks.append(best)
        for w, symbols in split.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            split[w] = out
    return ranks


def make_vocab(ranks):
    tokens = ["<s>", "<pad>", "</s>", "<unk>", "\u0120"]
    tokens += [chr(c) for c in range(33, 127) if chr(c) not in LEFT_OUT]
    tokens += ["\u0120" + chr(c) for c in range(97, 123)]
    for a, b in ranks:
        if a + b not in tokens:
            tokens.append(a + b)
    tokens.append("<mask>")
    return {t: i for i, t in enumerate(tokens)}


def random_tensor(key: str, shape, g: torch.Generator) -> torch.Tensor:
    """Scales that keep activations O(1) and spread the logits (few near-ties under greedy decoding)."""
    if key.endswith(".bias"):
        return torch.randn(shape, generator=g) * 0.1
    if len(shape) == 1:  # a norm scale
        return 1.0 + torch.randn(shape, generator=g) * 0.1
    if "embed" in key or key == "embedding.weight":
        return torch.randn(shape, generator=g)
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    std = 3.0 / fan_in ** 0.5 if key == "lm_head.weight" else 1.0 / fan_in ** 0.5
    return torch.randn(shape, generator=g) * std


def state_dict(spec, dtype, seed: int):
    g = torch.Generator().manual_seed(seed)
    return {k: random_tensor(k, shape, g).to(dtype) for k, shape in spec.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", choices=["tiny", "mini", "mega"], default="tiny")
    ap.add_argument("--real-detoker", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ranks = train_bpe(CORPUS, MERGES)
    vocab = make_vocab(ranks)
    if args.preset == "tiny":
        bart = BartShape(**{**TINY_BART.__dict__, "text_vocab": len(vocab)})
    else:
        bart = MINI_BART if args.preset == "mini" else MEGA_BART
        # A real-size vocabulary: the tiny BPE tokens, then filler tokens up to BART's size.
        for i in range(len(vocab), bart.text_vocab):
            vocab[f"<filler{i}>"] = i
    vqgan = REAL_VQGAN if (args.real_detoker or args.preset != "tiny") else TINY_VQGAN

    with open(os.path.join(args.out, "vocab.json"), "w", encoding="utf8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(args.out, "merges.txt"), "w", encoding="utf8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in ranks))
    torch.save(state_dict(encoder_spec(bart), torch.float16, args.seed + 1), os.path.join(args.out, "encoder.pt"))
    torch.save(state_dict(decoder_spec(bart), torch.float16, args.seed + 2), os.path.join(args.out, "decoder.pt"))
    torch.save(state_dict(detoker_spec(vqgan), torch.float32, args.seed + 3), os.path.join(args.out, "detoker.pt"))
    print(f"wrote {args.out}: {bart}, {vqgan}, text vocab {len(vocab)}, {len(ranks)} merges")


if __name__ == "__main__":
    main()
