/**
 * The onnxruntime-node half of scripts/perf/conv_int8.py (the VQ decoder's int8 variant,
 * issue 27): calibration ranges and the fidelity gate. Prints one JSON line.
 *
 *   node --import tsx scripts/perf/vq-int8.ts calibrate --package DIR --graph G.onnx --names a,b,... [--codes sampled|random] [--grids 32] [--seed 1]
 *   node --import tsx scripts/perf/vq-int8.ts gate --package DIR --graph vae/decoder.int8.onnx [--codes ...] [--grids 32] [--seed 2] [--rounds 3]
 *   node --import tsx scripts/perf/vq-int8.ts spearman --package DIR --graph vae/decoder.int8.onnx --clip CLIPDIR --prompt TEXT [--grids 64] [--seed 3]
 *
 * Code grids: `sampled` = drawn by the package's own fp32 generator (Tessera.generate) for
 * prompts of the frozen eval set, what the decoder sees in use; `random` = uniform over the
 * codebook (for random-weight packages, where nothing is more typical).
 * calibrate: runs G (the decoder with the named tensors added as outputs) and prints each
 * name's [min, max] over the grids. gate: decodes the same grids with the package's fp32
 * decoder and with the candidate, and prints the pixel agreement (8-bit RGB, after the
 * decoder's own clip): PSNR, mean and max absolute difference, and CPU ms of each (paired,
 * alternating, one thread: the machine may be shared). spearman: the same grids decoded by
 * both, each image scored by a CLIP against one prompt; the rank correlation of the two score
 * lists (issue 27: CLIP score ranking agreement on 64 images).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readManifest, type ModelManifest } from '../../src/model/manifest.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ClipReranker } from '../../src/rerank/clip-reranker.js';
import type { RgbImage } from '../../src/types.js';
import { createRng } from '../../eval/world/prng.js';

export async function codeGrids(dir: string, manifest: ModelManifest, kind: string, count: number, seed: number): Promise<BigInt64Array[]> {
  const cells = manifest.image.grid.height * manifest.image.grid.width;
  if (kind === 'random') {
    const next = createRng(seed).next;
    return Array.from({ length: count }, () => BigInt64Array.from({ length: cells }, () => BigInt(Math.floor(next() * manifest.image.vocabSize))));
  }
  const prompts = (JSON.parse(readFileSync(path.join(import.meta.dirname, '../../eval/prompts.json'), 'utf8')) as { prompts: { prompt: string }[] }).prompts;
  const tessera = await Tessera.load({ model: dir, rerank: false, precision: 'fp32' });
  const grids: BigInt64Array[] = [];
  try {
    for (let i = 0; grids.length < count; i++) {
      const prompt = prompts[(seed * 37 + i * 11) % prompts.length].prompt;
      const result = await tessera.generate({ prompt, seed: seed * 1000 + i, candidates: Math.min(8, count - grids.length), keep: 1 });
      for (const c of result.candidates) grids.push(BigInt64Array.from(c.tokens, (t) => BigInt(t)));
    }
  } finally {
    await tessera.dispose();
  }
  return grids;
}

function session(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } });
}

async function decode(graph: ort.InferenceSession, manifest: ModelManifest, grids: BigInt64Array[], batch: number): Promise<{ pixels: Float32Array[]; cpuMs: number }> {
  const { height, width } = manifest.image.grid;
  const pixels: Float32Array[] = [];
  let cpuMs = 0;
  for (let i = 0; i < grids.length; i += batch) {
    const part = grids.slice(i, i + batch);
    const codes = new BigInt64Array(part.length * height * width);
    part.forEach((g, j) => codes.set(g, j * height * width));
    const usage = process.cpuUsage();
    const out = await graph.run({ codes: new ort.Tensor('int64', codes, [part.length, height, width]) });
    const used = process.cpuUsage(usage);
    cpuMs += (used.user + used.system) / 1000;
    pixels.push(out.images.data as Float32Array); // [B, 3, size, size]
  }
  return { pixels, cpuMs };
}

async function calibrate(dir: string, manifest: ModelManifest, graphFile: string, names: string[], grids: BigInt64Array[]): Promise<Record<string, [number, number]>> {
  const graph = await session(graphFile);
  const { height, width } = manifest.image.grid;
  const ranges: Record<string, [number, number]> = Object.fromEntries(names.map((n) => [n, [Infinity, -Infinity]]));
  for (const grid of grids) {
    const out = await graph.run({ codes: new ort.Tensor('int64', grid, [1, height, width]) }, names);
    widenRanges(ranges, out, names);
  }
  await graph.release();
  return ranges;
}

/** Widens each named tensor's [min, max] calibration range by one run's values. */
export function widenRanges(ranges: Record<string, [number, number]>, out: Record<string, { data: unknown }>, names: readonly string[]): void {
  for (const name of names) {
    const data = out[name]!.data as Float32Array;
    const r = ranges[name]!;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < r[0]) r[0] = v;
      if (v > r[1]) r[1] = v;
    }
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1];

async function gate(dir: string, manifest: ModelManifest, graphFile: string, grids: BigInt64Array[], rounds: number) {
  const fp32 = await session(path.join(dir, manifest.decoder));
  const int8 = await session(graphFile);
  const batch = Math.max(1, Math.floor((64 * 64 * 64) / manifest.image.size ** 2));
  await decode(fp32, manifest, grids.slice(0, 1), 1); // first runs (allocation, prepacking) untimed
  await decode(int8, manifest, grids.slice(0, 1), 1);
  const times = { fp32: [] as number[], int8: [] as number[] };
  let a: Float32Array[] = [];
  let b: Float32Array[] = [];
  for (let r = 0; r < rounds; r++) {
    const x = await decode(fp32, manifest, grids, batch);
    const y = await decode(int8, manifest, grids, batch);
    times.fp32.push(x.cpuMs);
    times.int8.push(y.cpuMs);
    [a, b] = [x.pixels, y.pixels];
  }
  let squared = 0;
  let absolute = 0;
  let max = 0;
  let n = 0;
  const byte = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);
  a.forEach((chunk, c) => {
    for (let i = 0; i < chunk.length; i++) {
      const d = Math.abs(byte(chunk[i]) - byte(b[c][i]));
      squared += d * d;
      absolute += d;
      max = Math.max(max, d);
      n++;
    }
  });
  const mse = squared / n;
  return {
    grids: grids.length,
    psnr: mse === 0 ? 99 : 10 * Math.log10((255 * 255) / mse),
    meanAbs: absolute / n,
    maxAbs: max,
    fp32CpuMs: median(times.fp32),
    int8CpuMs: median(times.int8),
    speedup: median(times.fp32) / median(times.int8),
  };
}

/** [B, 3, S, S] floats in [0, 1] -> B interleaved 8-bit RGB images. */
function toRgb(chunk: Float32Array, size: number): RgbImage[] {
  const plane = size * size;
  const images: RgbImage[] = [];
  for (let b = 0; b < chunk.length / (3 * plane); b++) {
    const data = new Uint8Array(plane * 3);
    for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) data[i * 3 + c] = Math.round(Math.min(1, Math.max(0, chunk[(b * 3 + c) * plane + i])) * 255);
    images.push({ width: size, height: size, data });
  }
  return images;
}

/** Ranks (1-based, ties averaged) for Spearman's rho. */
function ranks(values: number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    for (let k = i; k <= j; k++) out[order[k][1]] = (i + j) / 2 + 1;
    i = j + 1;
  }
  return out;
}

export function spearman(a: number[], b: number[]): number {
  const [x, y] = [ranks(a), ranks(b)];
  const mean = (x.length + 1) / 2;
  let num = 0;
  let dx = 0;
  let dy = 0;
  for (let i = 0; i < x.length; i++) {
    num += (x[i] - mean) * (y[i] - mean);
    dx += (x[i] - mean) ** 2;
    dy += (y[i] - mean) ** 2;
  }
  return num / Math.sqrt(dx * dy);
}

async function clipRanking(dir: string, manifest: ModelManifest, graphFile: string, grids: BigInt64Array[], clipDir: string, prompt: string) {
  const batch = Math.max(1, Math.floor((64 * 64 * 64) / manifest.image.size ** 2));
  const clip = await ClipReranker.load(clipDir, 'cpu');
  const scores: number[][] = [];
  for (const file of [path.join(dir, manifest.decoder), graphFile]) {
    const graph = await session(file);
    const { pixels } = await decode(graph, manifest, grids, batch);
    await graph.release();
    const images = pixels.flatMap((chunk) => toRgb(chunk, manifest.image.size));
    scores.push(await clip.score(prompt, images));
  }
  const top = (s: number[]) => s.indexOf(Math.max(...s));
  return { images: grids.length, prompt, clip: path.relative(dir, clipDir) || '.', spearman: spearman(scores[0], scores[1]), sameTop1: top(scores[0]) === top(scores[1]) };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      package: { type: 'string' }, graph: { type: 'string' }, names: { type: 'string', default: '' },
      codes: { type: 'string', default: 'sampled' }, clip: { type: 'string' }, prompt: { type: 'string', default: 'a painting of a fox sitting in the snow' }, grids: { type: 'string', default: '32' }, seed: { type: 'string' }, rounds: { type: 'string', default: '3' },
    },
  });
  const dir = path.resolve(values.package ?? '.');
  const manifest = readManifest(dir);
  const graphFile = path.resolve(dir, values.graph ?? '');
  const mode = positionals[0];
  const seed = Number(values.seed ?? { calibrate: 1, gate: 2 }[mode ?? ''] ?? 3); // held-out grids for the gate and the ranking
  const grids = await codeGrids(dir, manifest, values.codes ?? 'sampled', Number(values.grids), seed);
  const result = mode === 'calibrate'
    ? await calibrate(dir, manifest, graphFile, (values.names ?? '').split(',').filter(Boolean), grids)
    : mode === 'spearman'
      ? await clipRanking(dir, manifest, graphFile, grids, path.resolve(values.clip ?? path.join(dir, manifest.clip ?? 'clip')), values.prompt ?? '')
      : await gate(dir, manifest, graphFile, grids, Number(values.rounds));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await main();
