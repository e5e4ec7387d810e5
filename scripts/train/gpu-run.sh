#!/usr/bin/env bash
# One prepared, time-boxed training run of all three models on a lent GPU machine
# (or, with small budgets, on the CPU as a smoke test of the same steps).
#
#   DATA_GZ=.gpu/data OUT=/tmp/gpu-out VQ_S=150 GPT_S=300 CLIP_S=430 bash scripts/train/gpu-run.sh
#
# DATA_GZ holds the shapes shards gzip-compressed (scripts/train/pack-data.sh); the
# VQ-VAE trains first, then the generator on its codes, while CLIP trains alongside
# (it needs no codes). Every stage is time-boxed and the weights of each model land in
# $OUT as soon as that model is done, so a cut-off run still returns what finished.
set -u
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:?set OUT}
DATA_GZ=${DATA_GZ:-.gpu/data}
WORK=${WORK:-/tmp/tessera-train}
VQ_S=${VQ_S:-150}
GPT_S=${GPT_S:-300}
CLIP_S=${CLIP_S:-430}
VQ_BATCH=${VQ_BATCH:-256}
GPT_BATCH=${GPT_BATCH:-256}
CLIP_BATCH=${CLIP_BATCH:-512}
LIMIT=${LIMIT:-}
PY=${PY:-python3}
# RESUME=1 continues each trainer from its last checkpoint in $WORK/ck (same machine).
resume_flag=()
[ "${RESUME:-0}" = 1 ] && resume_flag=(--resume)
export PYTHONUNBUFFERED=1
limit_flag=()
[ -n "$LIMIT" ] && limit_flag=(--limit "$LIMIT")

mkdir -p "$WORK/data" "$WORK/ck" "$OUT"
started=$(date +%s)
TRAIN_DIR="$here" "$PY" - "$DATA_GZ" "$WORK/data" <<'EOF'
import gzip, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    target = os.path.join(dst, name[:-3] if name.endswith(".gz") else name)
    if os.path.exists(target):
        continue
    opener = gzip.open if name.endswith(".gz") else open
    with opener(os.path.join(src, name), "rb") as f, open(target + ".part", "wb") as g:
        shutil.copyfileobj(f, g, 1 << 22)
    os.replace(target + ".part", target)
# An objects atlas folder (scenes + sprites, no images): composite the images once here,
# so the three trainers memory-map one shard instead of compositing it three times.
if os.path.exists(os.path.join(dst, "sprites.npy")) and not os.path.exists(os.path.join(dst, "images-00000.npy")):
    sys.path.insert(0, os.environ["TRAIN_DIR"])
    from objects_data import composite_to_npy
    print("composited", composite_to_npy(dst, os.path.join(dst, "images.part.npy")), "scenes")
    os.replace(os.path.join(dst, "images.part.npy"), os.path.join(dst, "images-00000.npy"))
    parts = sorted(n for n in os.listdir(dst) if n.startswith("scenes-") and n.endswith(".jsonl"))
    with open(os.path.join(dst, "scenes-all.part"), "w", encoding="utf-8") as out:
        for name in parts:
            out.write(open(os.path.join(dst, name), encoding="utf-8").read())
    for name in parts:
        os.remove(os.path.join(dst, name))
    os.replace(os.path.join(dst, "scenes-all.part"), os.path.join(dst, "scenes-00000.jsonl"))
print("data ready:", sorted(os.listdir(dst)))
EOF
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
echo "unpacked in $(( $(date +%s) - started ))s"

pack() { # pack NAME DIR FILES... -> $OUT/NAME.tgz
  local name=$1 dir=$2; shift 2
  (cd "$dir" && tar czf "$OUT/$name.tgz.part" "$@" 2>/dev/null; mv "$OUT/$name.tgz.part" "$OUT/$name.tgz")
  echo "packed $name: $(du -h "$OUT/$name.tgz" | cut -f1)"
}

(
  "$PY" "$here/train_clip.py" --data "$WORK/data" --out "$WORK/ck/clip" --seconds "$CLIP_S" --batch "$CLIP_BATCH" \
    "${limit_flag[@]}" "${resume_flag[@]}" ${CLIP_ARGS:-} >> "$OUT/clip.log" 2>&1
  echo "clip exit $?" >> "$OUT/clip.log"
  pack clip "$WORK/ck/clip" config.json model.fp16.pt vocab.json log.csv
) &
clip_pid=$!

"$PY" "$here/train_vqvae.py" --data "$WORK/data" --out "$WORK/ck/vqvae" --seconds "$VQ_S" --batch "$VQ_BATCH" \
  --codebook "${CODEBOOK:-1024}" "${limit_flag[@]}" "${resume_flag[@]}" ${VQ_ARGS:-} >> "$OUT/vqvae.log" 2>&1
echo "vqvae exit $?" | tee -a "$OUT/vqvae.log"
pack vqvae "$WORK/ck/vqvae" config.json weights.pt log.csv metrics.json

"$PY" "$here/train_generator.py" --data "$WORK/data" --vqvae "$WORK/ck/vqvae" --out "$WORK/ck/generator" \
  --seconds "$GPT_S" --batch "$GPT_BATCH" --log-every 200 "${limit_flag[@]}" "${resume_flag[@]}" ${GPT_ARGS:-} \
  >> "$OUT/generator.log" 2>&1
echo "generator exit $?" | tee -a "$OUT/generator.log"
pack generator "$WORK/ck/generator" config.json weights.pt vocab.json log.csv

wait "$clip_pid"
tail -n 3 "$OUT/vqvae.log" "$OUT/generator.log" "$OUT/clip.log"
echo "total $(( $(date +%s) - started ))s"
ls -la "$OUT"
