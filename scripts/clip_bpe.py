"""CLIP's byte-level BPE, written for scripts/make-tiny-clip.py: a tiny vocabulary learnt from a word
list, the tokenizer.json structure CLIP's published tokenizer has, and an encoder that gives the
reference ids the tests compare transformers.js's against (ASCII text only).
"""
from __future__ import annotations

import math
import re
import unicodedata

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
SPLIT = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
# The same split for ASCII captions with Python's re (no \p classes).
SPLIT_ASCII = r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+"


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's byte -> printable character table (the ByteLevel pre-tokeniser's alphabet)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def learn_merges(words: list[str], count: int) -> list[tuple[str, str]]:
    """Greedy BPE on the word list: each step merges the most frequent adjacent pair (ties: first seen)."""
    table = bytes_to_unicode()
    seqs = [[table[b] for b in w.encode()] for w in words]
    seqs = [s[:-1] + [s[-1] + "</w>"] for s in seqs]
    merges = []
    for _ in range(count):
        freq: dict[tuple[str, str], int] = {}
        for s in seqs:
            for pair in zip(s, s[1:]):
                freq[pair] = freq.get(pair, 0) + 1
        if not freq:
            break
        best = max(freq, key=lambda p: freq[p])  # dicts keep insertion order: ties go to the first seen
        merges.append(best)
        for i, s in enumerate(seqs):
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and (s[j], s[j + 1]) == best:
                    out.append(s[j] + s[j + 1])
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
    return merges


def build_vocab(merges: list[tuple[str, str]]) -> dict[str, int]:
    """CLIP's order: the 256 byte characters, the same with "</w>", one token per merge, then BOS and EOS last."""
    base = list(bytes_to_unicode().values())
    tokens = base + [c + "</w>" for c in base] + [a + b for a, b in merges] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


def encode(text: str, vocab: dict[str, int], merges: list[tuple[str, str]]) -> list[int]:
    """This script's own CLIP BPE encoder (reference ids for the tests; ASCII text only)."""
    ranks = {pair: r for r, pair in enumerate(merges)}
    table = bytes_to_unicode()
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).lower()
    ids = [vocab[BOS]]
    for piece in re.findall(SPLIT_ASCII, text):
        word = [table[b] for b in piece.encode()]
        word = word[:-1] + [word[-1] + "</w>"]
        while len(word) > 1:
            pairs = [(ranks.get(p, math.inf), k) for k, p in enumerate(zip(word, word[1:]))]
            rank, k = min(pairs)
            if rank == math.inf:
                break
            word = word[:k] + [word[k] + word[k + 1]] + word[k + 2:]
        ids.extend(vocab[t] for t in word)
    return ids + [vocab[EOS]]


def tokenizer_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    special = lambda t: {"id": vocab[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}  # noqa: E731
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [special(BOS), special(EOS)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFC"}, {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "}, {"type": "Lowercase"}]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        "post_processor": {"type": "RobertaProcessing", "sep": [EOS, vocab[EOS]], "cls": [BOS, vocab[BOS]],
                           "trim_offsets": False, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": EOS, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]},
    }
