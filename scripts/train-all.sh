#!/usr/bin/env bash
# Reproduces the embedded model from nothing, one stage after another; every stage is
# skipped when its output exists, and the trainers resume from their checkpoints
# (RESUME=1), so the command can be rerun after an interruption.
#
#   bash scripts/train-all.sh                      # CPU (slow: tens of CPU-hours), or
#   PY=python3 bash scripts/train-all.sh           # on a GPU machine (about 10 minutes)
#
# Stages: dataset -> (VQ-VAE, then generator on its codes; CLIP alongside) ->
# model package -> tokenizer gate -> 50-prompt evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
DATA=${DATA:-data/shapes}
WORK=${WORK:-checkpoints/work}
OUT=${OUT:-out/train}
PACKAGE=${PACKAGE:-models/default}

[ -f "$DATA/meta.json" ] || npx tsx scripts/make-dataset.ts --count "${COUNT:-100000}" --seed 1 --out "$DATA"
[ -f data/shapes-heldout/meta.json ] || npx tsx scripts/make-dataset.ts --split heldout --count 1000 --seed 5 --out data/shapes-heldout

# The trainers read plain shards: gpu-run.sh unpacks .gz files and copies the rest.
mkdir -p "$OUT"
PY=$PY DATA_GZ="$DATA" WORK="$WORK" OUT="$OUT" RESUME=1 bash scripts/train/gpu-run.sh

mkdir -p checkpoints
for m in vqvae generator clip; do
  rm -rf "checkpoints/$m" && mkdir -p "checkpoints/$m" && tar xzf "$OUT/$m.tgz" -C "checkpoints/$m"
done
"$PY" scripts/train/build_package.py --ckpt checkpoints --out "$PACKAGE"
npx tsx scripts/check-tokenizer-gate.ts --model "$PACKAGE"
npm run eval -- --model "$PACKAGE" --limit 50 --candidates 32 --out "$OUT/eval-50"
