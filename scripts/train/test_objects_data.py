"""Checks that atlas compositing (objects_data.py) reproduces the renderer's scenes.

    npx tsx scripts/make-objects-dataset.ts --count 300 --seed 7 --out /tmp/a/rendered
    npx tsx scripts/make-objects-dataset.ts --atlas --count 300 --seed 7 --out /tmp/a/atlas
    /usr/bin/python3 scripts/train/test_objects_data.py /tmp/a/rendered /tmp/a/atlas
Prints the mean and 99.9th-percentile absolute difference per channel value; exits 1 when
the mean exceeds 1.0 or more than 0.1% of values differ by more than 8.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import load_shapes  # noqa: E402

rendered, atlas = load_shapes(sys.argv[1]), load_shapes(sys.argv[2])
assert rendered.scenes == atlas.scenes, "the two folders hold different scenes"
diff = np.abs(rendered.images.astype(np.int16) - atlas.images.astype(np.int16))
mean, p999, share = float(diff.mean()), float(np.percentile(diff, 99.9)), float((diff > 8).mean())
print(f"{len(atlas.scenes)} scenes: mean |diff| {mean:.3f}, 99.9th percentile {p999:.0f}, share > 8: {share:.5f}, max {int(diff.max())}")
sys.exit(0 if mean <= 1.0 and share <= 0.001 else 1)
