"""tokenizer.json (Hugging Face tokenizers format) that reproduces min-dalle's text tokenizer.

min-dalle's tokenizer (min_dalle/text_tokenizer.py) is not byte-level BPE: it lowercases,
drops every non-ASCII character, splits on the ASCII space only (empty pieces dropped),
prefixes each word with 'Ġ' (chr(288)), runs BPE with the ranks of merges.txt, maps any
subword outside vocab.json to <unk>, and wraps the result in <s> ... </s>. The same
pipeline in tokenizers terms:

  normalizer     Lowercase, then Replace [^\\x00-\\x7F] -> ''
  pre_tokenizer  Split on the regex ' ' (removed), then Metaspace 'Ġ' (prepend always, no split)
  model          BPE (unk <unk>, no byte fallback, merges applied to any characters)
  post_processor TemplateProcessing <s> $A </s>

The split pattern is a Regex, not a String: transformers.js compiles a String pattern with
a capturing group, so String(' ') would keep the spaces as pieces.

Not reproduced: min-dalle first turns emoji into their names (emoji.demojize); here an
emoji is dropped with the other non-ASCII characters.
"""
from __future__ import annotations

import json
from typing import Dict, List, Tuple

WORD_PREFIX = "\u0120"  # 'Ġ' = chr(ord(' ') + 256), min-dalle's word start symbol


def read_vocab(path: str) -> Dict[str, int]:
    with open(path, encoding="utf8") as f:
        vocab = json.load(f)
    if not isinstance(vocab, dict) or not all(isinstance(v, int) for v in vocab.values()):
        raise ValueError(f"{path}: expected a JSON object of token -> id")
    for special in ("<s>", "</s>", "<unk>", "<pad>"):
        if special not in vocab:
            raise ValueError(f"{path}: has no {special!r} token")
    return vocab


def read_merges(path: str) -> List[Tuple[str, str]]:
    """As min-dalle reads merges.txt: drop the first line (the '#version' header) and the last
    (the empty string after the final newline); a line that does not split into exactly two
    symbols can never match a pair, so it is left out here."""
    with open(path, encoding="utf8") as f:
        lines = f.read().split("\n")[1:-1]
    pairs = [tuple(line.split()) for line in lines]
    return [(p[0], p[1]) for p in pairs if len(p) == 2]


def special(token: str, vocab: Dict[str, int]) -> dict:
    return {"id": token, "ids": [vocab[token]], "tokens": [token]}


def build_tokenizer_json(vocab: Dict[str, int], merges: List[Tuple[str, str]]) -> dict:
    piece = lambda kind, name: {kind: {"id": name, "type_id": 0}}  # noqa: E731
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Lowercase"},
            {"type": "Replace", "pattern": {"Regex": "[^\\x00-\\x7F]"}, "content": ""},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": " "}, "behavior": "Removed", "invert": False},
            {"type": "Metaspace", "replacement": WORD_PREFIX, "prepend_scheme": "always", "split": False},
        ]},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [piece("SpecialToken", "<s>"), piece("Sequence", "A"), piece("SpecialToken", "</s>")],
            "pair": [piece("SpecialToken", "<s>"), piece("Sequence", "A"), piece("SpecialToken", "</s>"),
                     piece("Sequence", "B"), piece("SpecialToken", "</s>")],
            "special_tokens": {"<s>": special("<s>", vocab), "</s>": special("</s>", vocab)},
        },
        "decoder": None,
        "model": {
            "type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [list(pair) for pair in merges],
        },
    }
