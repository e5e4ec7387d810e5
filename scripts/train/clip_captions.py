"""The captions' side of CLIP training (train_clip.py): single-edit hard-negative captions,
the canonical key of a scene spec (which captions are true of which image), and caption
token ids. Kept apart from the training loop because it is all text and rules about the
shapes/objects worlds' wording, with no torch in it but the token tensors."""
from __future__ import annotations

import json
import os
import random
from typing import Dict, List, Sequence, Tuple

import torch


# Surface words per concept. meta.json lists the canonical shapes/colours/sizes/backgrounds/
# relations; the synonyms below mirror eval/shapes/captions.ts (SHAPE_WORDS) and eval/world/captions.ts (SIZE_WORDS,
# BACKGROUND_WORDS, RELATION_PHRASES) and are only used when the word is in the vocabulary.
SHAPE_SYNONYMS = {
    "circle": [("circle", "circles"), ("ball", "balls"), ("disk", "disks")],
    "square": [("square", "squares"), ("box", "boxes"), ("block", "blocks")],
    "diamond": [("diamond", "diamonds"), ("rhombus", "rhombuses")],
    "cross": [("cross", "crosses"), ("plus", "pluses")],
    "ring": [("ring", "rings"), ("donut", "donuts"), ("hoop", "hoops")],
}
SIZE_SYNONYMS = {"small": ["small", "little"], "large": ["large", "big"]}
BACKGROUND_SYNONYMS = {"gray": ["gray", "grey"]}
RELATION_WORDS = {"left": ["left"], "right": ["right"], "above": ["above", "over"],
                  "below": ["below", "under", "beneath", "underneath"]}
INVERSE = {"left": "right", "right": "left", "above": "below", "below": "above"}
COUNT_WORDS = {1: ["a", "an"], 2: ["two"], 3: ["three"], 4: ["four"], 5: ["five"]}
NEG_TYPES = ["colour", "shape", "size", "relation", "count", "background", "binding"]


def _names(x) -> List[str]:
    return list(x.keys()) if isinstance(x, dict) else list(x or [])


class Negatives:
    """Single-edit hard-negative captions: one colour / shape / size / relation / count /
    background concept changed, or two objects' colours, shapes or sizes exchanged.
    Edits work on concepts (a synonym is never a negative) and keep the caption grammatical
    (articles, plurals)."""

    def __init__(self, meta: dict, words: Sequence[str], seed: int = 0):
        vocab = set(words)
        self.vocab = vocab
        self.rng = random.Random(seed)
        colours = _names(meta.get("colors") or meta.get("colours"))
        # The objects world names its concepts in meta["nouns"]: concept -> [[singular, plural], ...],
        # phrases of one or more words (joined by "_" while a caption is edited).
        nouns = meta.get("nouns") or {}
        shapes = list(nouns) if nouns else _names(meta.get("shapes"))
        sizes = _names(meta.get("sizes")) or [s for s in SIZE_SYNONYMS]
        backgrounds = _names(meta.get("backgrounds"))
        relations = _names(meta.get("relations")) or list(RELATION_WORDS)
        # word -> (class, concept, plural?)
        self.word: Dict[str, Tuple[str, str, bool]] = {}
        self.surface: Dict[Tuple[str, str, bool], List[str]] = {}

        def add(cls: str, concept: str, w: str, plural: bool = False) -> None:
            if all(p in vocab for p in w.split("_")) and w not in self.word:
                self.word[w] = (cls, concept, plural)
                self.surface.setdefault((cls, concept, plural), []).append(w)

        for c in colours:
            add("colour", c, c)
        for s in shapes:
            forms = nouns[s] if nouns else SHAPE_SYNONYMS.get(s, [(s, s + "es" if s.endswith(("s", "x", "sh", "ch")) else s + "s")])
            for sing, plur in forms:
                add("shape", s, sing.replace(" ", "_"), False)
                add("shape", s, plur.replace(" ", "_"), True)
        for z in sizes:
            for w in SIZE_SYNONYMS.get(z, [z]):
                add("size", z, w)
        for r in relations:
            for w in RELATION_WORDS.get(r, [r]):
                add("relation", r, w)
        for n, ws in COUNT_WORDS.items():
            for w in ws:
                add("count", str(n), w)
        self.concepts = {cls: sorted({k[1] for k in self.surface if k[0] == cls}) for cls in ("colour", "shape", "size", "relation", "count")}
        self.backgrounds = [b for b in backgrounds if any(w in vocab for w in BACKGROUND_SYNONYMS.get(b, [b]))]
        self.bg_surface = {b: [w for w in BACKGROUND_SYNONYMS.get(b, [b]) if w in vocab] for b in self.backgrounds}
        self.bg_word = {w: b for b, ws in self.bg_surface.items() for w in ws}
        self.cache: Dict[str, List[Tuple[str, str]]] = {}
        self.longest = max([k.count("_") + 1 for k in self.word] + [1])

    def _join(self, words: List[str]) -> List[str]:
        """Multi-word concept names as one token ("teddy bear" -> "teddy_bear"), longest match first."""
        out, i = [], 0
        while i < len(words):
            for n in range(min(self.longest, len(words) - i), 0, -1):
                joined = "_".join(words[i:i + n])
                if n == 1 or joined in self.word:
                    out.append(joined); i += n
                    break
        return out

    def _is_bg(self, w: List[str], i: int) -> bool:
        """A background word: "on <bg>" or "<bg> background" (a colour word elsewhere is an object's colour)."""
        return w[i] in self.bg_word and ((i + 1 < len(w) and w[i + 1] == "background") or (i > 0 and w[i - 1] == "on"))

    def _pick(self, key) -> str:
        return self.rng.choice(self.surface[key])

    def canonical(self, w: List[str]) -> str:
        out = []
        for i, t in enumerate(w):
            if t in ("a", "an"):
                out.append("a")
            elif self._is_bg(w, i):
                out.append("bg:" + self.bg_word[t])
            elif t in self.word:
                cls, c, pl = self.word[t]
                out.append(f"{cls}:{c}:{int(pl)}")
            else:
                out.append(t)
        return " ".join(out)

    def _fix_articles(self, w: List[str]) -> List[str]:
        out = list(w)
        for i in range(len(out) - 1):
            if out[i] in ("a", "an") and "an" in self.vocab:
                out[i] = "an" if out[i + 1][:1] in "aeiou" else "a"
        return out

    def _groups(self, w: List[str]) -> List[Tuple[int, List[int], int]]:
        """(determiner index, attribute indices, shape index) per object phrase."""
        groups = []
        for i, t in enumerate(w):
            if self.word.get(t, ("",))[0] != "shape":
                continue
            j, attrs = i - 1, []
            while j >= 0 and self.word.get(w[j], ("",))[0] in ("colour", "size"):
                attrs.append(j); j -= 1
            if j >= 0 and self.word.get(w[j], ("",))[0] == "count":
                groups.append((j, attrs, i))
        return groups

    def variants(self, caption: str) -> List[Tuple[str, str]]:
        """All (type, negative caption) single-edit variants of a caption (cached)."""
        hit = self.cache.get(caption)
        if hit is not None:
            return hit
        w = self._join(caption.lower().split())
        out: list = []
        groups = self._groups(w)
        for i, t in enumerate(w):
            if self._is_bg(w, i):
                for b in self.backgrounds:
                    if b != self.bg_word[t]:
                        v = list(w); v[i] = self.rng.choice(self.bg_surface[b]); out.append(("background", v))
                continue
            info = self.word.get(t)
            if info is None or info[0] == "count":
                continue
            cls, concept, plural = info
            targets = [INVERSE[concept]] if cls == "relation" and concept in INVERSE else self.concepts[cls]
            if len(targets) > 16:  # hundreds of concepts: a sample of swaps per caption, not all of them
                targets = self.rng.sample(targets, 16)
            for other in targets:
                if other != concept and (cls, other, plural) in self.surface:
                    v = list(w); v[i] = self._pick((cls, other, plural)); out.append((cls if cls != "relation" else "relation", v))
        # counts: change the number of one object phrase (a <-> two <-> three), fixing the plural
        for det, attrs, sh in groups:
            n = int(self.word[w[det]][1])
            shape = self.word[w[sh]][1]
            for m in map(int, self.concepts["count"]):
                if m == n or ("shape", shape, m > 1) not in self.surface or ("count", str(m), False) not in self.surface:
                    continue
                v = list(w)
                v[det] = self._pick(("count", str(m), False))
                if (m > 1) != (n > 1):
                    v[sh] = self._pick(("shape", shape, m > 1))
                    if det > 0 and v[det - 1] in ("is", "are") and {"is", "are"} <= self.vocab:
                        v[det - 1] = "are" if m > 1 else "is"
                out.append(("count", v))
        # binding: exchange an attribute between two object phrases
        if len(groups) >= 2:
            (d1, a1, s1), (d2, a2, s2) = groups[0], groups[1]
            pairs = [(s1, s2)] if self.word[w[s1]][2] == self.word[w[s2]][2] else []
            for cls in ("colour", "size"):
                x = [k for k in a1 if self.word[w[k]][0] == cls]
                y = [k for k in a2 if self.word[w[k]][0] == cls]
                if x and y:
                    pairs.append((x[0], y[0]))
            for p, q in pairs:
                v = list(w); v[p], v[q] = v[q], v[p]; out.append(("binding", v))
        orig = self.canonical(w)
        seen = {orig}
        res = []
        for kind, v in out:
            v = self._fix_articles(v)
            c = self.canonical(v)
            if c not in seen:
                seen.add(c)
                res.append((kind, " ".join(v).replace("_", " ")))
        self.cache[caption] = res
        return res


def spec_key(spec: dict) -> str:
    """Canonical text of a spec: equal keys mean each caption of one is true of the other."""
    s = dict(spec or {})
    if s.get("relation") in ("right", "below") and len(s.get("groups", [])) == 2:
        s["relation"] = INVERSE[s["relation"]]
        s["groups"] = [s["groups"][1], s["groups"][0]]
    return json.dumps(s, sort_keys=True)


class Tokens:
    def __init__(self, vocab: Dict[str, int], length: int):
        self.vocab, self.length, self.unk = vocab, length, vocab["[UNK]"]
        self.cache: Dict[str, List[int]] = {}

    def __call__(self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for t in texts:
            ids = self.cache.get(t)
            if ids is None:
                ids = [self.vocab.get(x, self.unk) for x in t.lower().split()][: self.length]
                self.cache[t] = ids
            rows.append(ids)
        n = max(1, max(len(r) for r in rows))
        ids = torch.zeros(len(rows), n, dtype=torch.long)
        mask = torch.zeros(len(rows), n, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            mask[i, : len(r)] = 1
        return ids, mask


def load_specs(folder: str, n: int) -> List[dict]:
    import glob
    specs: List[dict] = []
    for f in sorted(glob.glob(os.path.join(folder, "scenes-*.jsonl"))):
        with open(f, encoding="utf-8") as fh:
            specs.extend(json.loads(line).get("spec") for line in fh if line.strip())
        if len(specs) >= n:
            break
    return specs[:n]
