/**
 * The onnxruntime-node half of scripts/perf/conv_int8.py (the VQ decoder's int8 variant,
 * issue 27): calibration ranges and the fidelity gate. Prints one JSON line.
 *
 *   node --import tsx scripts/perf/vq-int8.ts calibrate --package DIR --graph G.onnx --names a,b,... [--codes sampled|random] [--grids 32] [--seed 1]
 *   node --import tsx scripts/perf/vq-int8.ts gate --package DIR --graph vae/decoder.int8.onnx [--codes ...] [--grids 32] [--seed 2] [--rounds 3]
 *
 * Code grids: `sampled` = drawn by the package's own fp32 generator (Tessera.generate) for
 * prompts of the frozen eval set, what the decoder sees in use; `random` = uniform over the
 * codebook (for random-weight packages, where nothing is more typical).
 * calibrate: runs G (the decoder with the named tensors added as outputs) and prints each
 * name's [min, max] over the grids. gate: decodes the same grids with the package's fp32
 * decoder and with the candidate, and prints the pixel agreement (8-bit RGB, after the
 * decoder's own clip): PSNR, mean and max absolute difference, and CPU ms of each (paired,
 * alternating, one thread: the machine may be shared).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readManifest, type ModelManifest } from '../../src/model/manifest.js';
import { Tessera } from '../../src/pipeline/tessera.js';

/** A seeded uniform generator (mulberry32): the same grids on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function codeGrids(dir: string, manifest: ModelManifest, kind: string, count: number, seed: number): Promise<BigInt64Array[]> {
  const cells = manifest.image.grid.height * manifest.image.grid.width;
  if (kind === 'random') {
    const next = rng(seed);
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
    for (const name of names) {
      const data = out[name].data as Float32Array;
      const r = ranges[name];
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v < r[0]) r[0] = v;
        if (v > r[1]) r[1] = v;
      }
    }
  }
  await graph.release();
  return ranges;
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

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      package: { type: 'string' }, graph: { type: 'string' }, names: { type: 'string', default: '' },
      codes: { type: 'string', default: 'sampled' }, grids: { type: 'string', default: '32' }, seed: { type: 'string' }, rounds: { type: 'string', default: '3' },
    },
  });
  const dir = path.resolve(values.package ?? '.');
  const manifest = readManifest(dir);
  const graphFile = path.resolve(dir, values.graph ?? '');
  const mode = positionals[0];
  const seed = Number(values.seed ?? (mode === 'gate' ? 2 : 1)); // held-out grids for the gate
  const grids = await codeGrids(dir, manifest, values.codes ?? 'sampled', Number(values.grids), seed);
  const result = mode === 'calibrate'
    ? await calibrate(dir, manifest, graphFile, (values.names ?? '').split(',').filter(Boolean), grids)
    : await gate(dir, manifest, graphFile, grids, Number(values.rounds));
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await main();
