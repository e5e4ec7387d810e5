/**
 * node --import tsx bench/clip.bench.ts --clip DIR [--clip DIR ...] [--images 4,16,64] [--size 256] [--rounds N]
 *
 * CLIP reranking alone: load time, text embedding, and image scoring per image (the
 * 224x224 preprocessing included) for each CLIP folder given, e.g. the package's own
 * (models/default/clip) against a ViT-B/32-sized one (scripts/make-tiny-clip.py --shape b32)
 * or the published Xenova/clip-vit-base-patch32. Images are random RGB of --size pixels.
 *
 * With two or more folders and --rounds N, also scores the largest image count with each
 * CLIP in turn, N alternating rounds (medians), and prints each one's speed-up and largest
 * score difference against the first: how an int8 CLIP (scripts/perf/quantize_int8.py
 * --graphs clip) compares with its float original.
 */
import { parseArgs } from 'node:util';
import { ClipReranker } from '../src/rerank/clip-reranker.js';
import type { RgbImage } from '../src/types.js';
import { median } from './perf/machine.js';

const { values } = parseArgs({
  options: { clip: { type: 'string', multiple: true }, images: { type: 'string' }, size: { type: 'string' }, prompt: { type: 'string' }, rounds: { type: 'string' } },
  strict: true,
});
const dirs = values.clip ?? ['models/default/clip'];
const counts = (values.images ?? '4,16,64').split(',').map(Number);
const size = Number(values.size ?? 256);
const prompt = values.prompt ?? 'a small red star left of a large blue circle on a white background';

function randomImage(seed: number): RgbImage {
  const data = new Uint8Array(size * size * 3);
  let state = seed * 2654435761 + 1;
  for (let i = 0; i < data.length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = state >>> 24;
  }
  return { width: size, height: size, data };
}

console.log(`node ${process.version}, onnxruntime-node CPU, threads intra=${process.env.TESSERA_THREADS ?? 2}, images ${size}x${size}, ${new Date().toISOString().slice(0, 10)}`);
for (const dir of dirs) {
  let start = performance.now();
  const clip = await ClipReranker.load(dir, 'cpu');
  const loadMs = performance.now() - start;
  await clip.score(prompt, [randomImage(0)]); // warm-up: first runs allocate
  start = performance.now();
  await clip.embedText([prompt]);
  const textMs = performance.now() - start;
  const rss = () => (process.memoryUsage().rss / 2 ** 20).toFixed(0);
  console.log(`${dir}: load ${loadMs.toFixed(0)} ms, text ${textMs.toFixed(1)} ms, rss ${rss()} MiB`);
  for (const n of counts) {
    const images = Array.from({ length: n }, (_, i) => randomImage(i + 1));
    start = performance.now();
    await clip.score(prompt, images);
    const ms = performance.now() - start;
    console.log(`  ${String(n).padStart(4)} images: ${ms.toFixed(0)} ms, ${(ms / n).toFixed(1)} ms/image, rss ${rss()} MiB`);
  }
  await clip.dispose();
}

const rounds = Number(values.rounds ?? 0);
if (dirs.length > 1 && rounds > 0) {
  const n = Math.max(...counts);
  const images = Array.from({ length: n }, (_, i) => randomImage(i + 1));
  const clips = await Promise.all(dirs.map((dir) => ClipReranker.load(dir, 'cpu')));
  const times: number[][] = clips.map(() => []);
  const scores: number[][] = [];
  for (const [i, clip] of clips.entries()) scores[i] = await clip.score(prompt, images); // warm-up
  for (let round = 0; round < rounds; round++) {
    for (const [i, clip] of clips.entries()) {
      const start = performance.now();
      await clip.score(prompt, images);
      times[i]!.push(performance.now() - start);
    }
  }
  console.log(`alternating, ${n} images, median of ${rounds} rounds:`);
  for (const [i, dir] of dirs.entries()) {
    const diff = Math.max(...scores[i]!.map((s, j) => Math.abs(s - scores[0]![j]!)));
    console.log(`  ${dir}: ${median(times[i]!).toFixed(1)} ms, speed-up ${(median(times[0]!) / median(times[i]!)).toFixed(2)}x, largest score difference ${diff.toExponential(1)}`);
    await clips[i]!.dispose();
  }
}
