#!/usr/bin/env bash
# Trains the objects model (docs/objects.md): VQ-VAE f8 (128x128 -> 16x16 codes),
# generator over [24 text | 256 image tokens], CLIP with hard negatives, in one run of
# about ten minutes on one GPU, then builds and evaluates the package.
#
#   bash scripts/train-objects.sh prepare   # here: scenes + sprite atlas, gzipped for the GPU box (~25 MB)
#   bash scripts/train-objects.sh gpu       # on the GPU box (run from the repository root; needs only python3 + torch)
#   bash scripts/train-objects.sh package   # here: checkpoints -> models/objects, curves, tokenizer gate, eval
#   bash scripts/train-objects.sh all       # all three on one machine with Node and a GPU
#
# With the device tool:  run(command="bash scripts/train-objects.sh gpu", carry=[".gpu/objects"], timeout_s=600)
# and copy $OUT/*.tgz back into out/train-objects/ before `package`.
# Every stage is time-boxed and resumable (RESUME=1); each model's weights land in $OUT
# as soon as it is done, so a cut-off run still returns what finished.
#
# Budget (scripts/train/profile_objects.py, docs/objects.md#compute): about 60 s to unpack
# and composite 300k scenes, then VQ-VAE 150 s -> generator 300 s (after encoding the
# codes), CLIP 430 s alongside: ~9.5 minutes of wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
stage=${1:-all}
PY=${PY:-python3}
COUNT=${COUNT:-300000}
DATA=${DATA:-data/objects-atlas}
GZ=${GZ:-.gpu/objects}
OUT=${OUT:-out/train-objects}
PACKAGE=${PACKAGE:-models/objects}

prepare() {
  [ -f "$DATA/meta.json" ] || npx tsx scripts/make-objects-dataset.ts --world objects --atlas --count "$COUNT" --seed 1 --out "$DATA"
  mkdir -p "$GZ"
  for f in "$DATA"/*; do
    case "$f" in *.json) cp "$f" "$GZ/";; *) gzip -6 -c "$f" > "$GZ/$(basename "$f").gz";; esac
  done
  du -sh "$GZ"
}

gpu() {
  mkdir -p "$OUT"
  OUT=$(cd "$OUT" && pwd)   # gpu-run.sh packs from inside each checkpoint folder
  # 1024 codes for 557 concepts; the generator is 10 layers x 256 wide (9 M parameters: its
  # weights sit in both prefill and step graphs, fp32, so the package stays under 100 MB);
  # CLIP sees 128x128 through four stride-2 stages (8x8 map) and 24-word captions.
  PY=$PY DATA_GZ="$GZ" OUT="$OUT" WORK="${WORK:-/tmp/tessera-objects}" RESUME="${RESUME:-1}" \
    VQ_S="${VQ_S:-150}" GPT_S="${GPT_S:-300}" CLIP_S="${CLIP_S:-430}" \
    VQ_BATCH="${VQ_BATCH:-128}" GPT_BATCH="${GPT_BATCH:-128}" CLIP_BATCH="${CLIP_BATCH:-256}" CODEBOOK=1024 \
    VQ_ARGS="--image-size 128 --val 2000" \
    GPT_ARGS="--text-length 24 --layers 10 --heads 8 --head-dim 32 --val 2000" \
    CLIP_ARGS="--warmup 200 --config {\"max_length\":24,\"image_size\":128,\"vision_channels\":[32,64,128,128]}" \
    bash scripts/train/gpu-run.sh
}

package() {
  mkdir -p checkpoints/objects
  for m in vqvae generator clip; do
    rm -rf "checkpoints/objects/$m" && mkdir -p "checkpoints/objects/$m" && tar xzf "$OUT/$m.tgz" -C "checkpoints/objects/$m"
  done
  /usr/bin/python3 scripts/train/build_package.py --ckpt checkpoints/objects --out "$PACKAGE" --name tessera-objects-v1 \
    --description "Tessera's objects model: everyday things from Fluent Emoji Flat art (MIT, Microsoft) named with CLDR annotations; see docs/objects.md."
  cp eval/objects/ATTRIBUTION.md "$PACKAGE/ATTRIBUTION.md"
  /usr/bin/python3 - "$PACKAGE" <<'PYEOF'
import sys
sys.path.insert(0, "scripts/train")
import json, os
from package import package_files
out = sys.argv[1]
manifest = json.load(open(os.path.join(out, "manifest.json")))
manifest["files"] = package_files(out)  # the attribution file is part of the package
json.dump(manifest, open(os.path.join(out, "manifest.json"), "w"), indent=2)
PYEOF
  [ -f data/objects-heldout/meta.json ] || npx tsx scripts/make-objects-dataset.ts --split heldout --count 1000 --seed 5 --out data/objects-heldout
  npx tsx scripts/plot-training.ts --ckpt checkpoints/objects --out "$OUT/training-curves.png"
  npx tsx scripts/check-objects-tokenizer-gate.ts --model "$PACKAGE" --data data/objects-heldout --limit "${GATE_LIMIT:-1000}" || echo "tokenizer gate failed (see above)"
  npm run eval -- --model "$PACKAGE" --candidates "${EVAL_CANDIDATES:-32}" ${EVAL_LIMIT:+--limit "$EVAL_LIMIT"} --out "$OUT/eval"
}

case "$stage" in
  prepare) prepare ;;
  gpu) gpu ;;
  package) package ;;
  all) prepare; gpu; package ;;
  *) echo "usage: $0 prepare|gpu|package|all" >&2; exit 2 ;;
esac
