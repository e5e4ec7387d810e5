"""Write a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) for a closed word vocabulary.

The tokenizers library bundled with @huggingface/transformers 4.x has no WordLevel model,
so the vocabulary is expressed as a WordPiece model over *whole words*: there are no
"##" continuation entries, so a word is either in the vocabulary as a whole or the
whole word becomes the unknown token (WordPiece marks the entire word unknown when any
piece fails to match). Text is lower-cased (normalizer Lowercase) and split on
whitespace and punctuation (BertPreTokenizer). There is no post-processor: no
[CLS]/[SEP] is added; padding/truncation are done by the caller.

Ids: pad=0, unk=1, then `extra` specials in the given order, then the words sorted
(lower-cased, de-duplicated, specials removed).

    from wordpiece import write_tokenizer
    vocab = write_tokenizer(["red", "circle", ...], "out/tokenizer.json")  # -> {token: id}

Usable from any script (stdlib only).
"""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Optional, Sequence


def build_vocab(words: Iterable[str], pad: str = "[PAD]", unk: str = "[UNK]",
                extra: Sequence[str] = ()) -> Dict[str, int]:
    """Return {token: id}: pad=0, unk=1, extra specials, then sorted lower-cased words."""
    specials: List[str] = [pad, unk] + [e for e in extra if e not in (pad, unk)]
    vocab: Dict[str, int] = {}
    for s in specials:
        if s not in vocab:
            vocab[s] = len(vocab)
    for w in sorted({w.lower() for w in words}):
        if not w or w in vocab:
            continue
        if any(c.isspace() for c in w) or w.startswith("##"):
            raise ValueError(f"vocabulary word {w!r} must be one token without whitespace or '##'")
        vocab[w] = len(vocab)
    return vocab


def tokenizer_json(vocab: Dict[str, int], pad: str = "[PAD]", unk: str = "[UNK]",
                   specials: Optional[Sequence[str]] = None) -> dict:
    """The tokenizer.json object for a {token: id} vocabulary (see module doc)."""
    if specials is None:
        specials = [t for t in vocab if t.startswith("[") and t.endswith("]")]
    added = [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for s in specials]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": None,
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {
            "type": "WordPiece",
            "unk_token": unk,
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
            "vocab": vocab,
        },
    }


def write_tokenizer(words: Iterable[str], path: str, pad: str = "[PAD]", unk: str = "[UNK]",
                    extra: Sequence[str] = (), model_max_length: int = 16) -> Dict[str, int]:
    """Write `path` (a tokenizer.json) and `tokenizer_config.json` beside it.

    words: the vocabulary (any order; lower-cased and sorted here).
    extra: further special tokens placed right after pad/unk (ids 2, 3, ...).
    Returns the {token: id} vocabulary.
    """
    vocab = build_vocab(words, pad, unk, extra)
    specials = [pad, unk] + [e for e in extra if e not in (pad, unk)]
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, pad, unk, specials), f, indent=1, ensure_ascii=False)
        f.write("\n")
    config = {
        "tokenizer_class": "PreTrainedTokenizer",
        "pad_token": pad,
        "unk_token": unk,
        "do_lower_case": True,
        "model_max_length": model_max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": True,
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=1)
        f.write("\n")
    return vocab


def encode(vocab: Dict[str, int], text: str, unk: str = "[UNK]") -> List[int]:
    """Python mirror of the tokenizer (lower-case, split on whitespace/punctuation, whole words)."""
    import re
    unk_id = vocab[unk]
    out = []
    for tok in re.findall(r"\w+|[^\w\s]", text.lower()):
        out.append(vocab.get(tok, unk_id) if not tok.startswith("##") else unk_id)
    return out


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", nargs="+", required=True)
    ap.add_argument("--out", required=True, help="path of tokenizer.json")
    ap.add_argument("--extra", nargs="*", default=[])
    a = ap.parse_args()
    print(json.dumps(write_tokenizer(a.words, a.out, extra=a.extra)))
