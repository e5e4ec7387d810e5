/**
 * The onnxruntime-node half of scripts/perf/clip_int8.py (CLIP's vision tower at int8, issue 27):
 * calibration ranges and the gate. Prints the machine first, then one JSON line.
 *
 *   node --import tsx scripts/perf/clip-int8.ts calibrate --package DIR --graph G.onnx --names a,b,... [--images 64] [--seed 1]
 *   node --import tsx scripts/perf/clip-int8.ts gate --package DIR --graph clip/onnx/vision_model.int8.candidate.onnx
 *       [--prompts 8] [--candidates 64] [--seed 2] [--rounds 7] [--sizes 32,128]
 *
 * Images: what the CLIP ranks in use, the package's own candidates, decoded. They come from
 * `tessera generate` at --precision int8 when the package has an int8 variant (the precision
 * this vision graph will run with: int8 generator, int8 VQ decoder), else fp32; prompts of the
 * frozen eval set (eval/prompts.json), reranking off. calibrate: the CLIP processor's
 * pixel_values of those images through G (the fp32 vision graph with the named tensors added
 * as outputs), each name's [min, max]. gate (other prompts and seeds): every prompt's candidates
 * scored by the fp32 CLIP and by the same CLIP with the candidate vision graph
 * (ClipReranker's `visionGraph`, the path the loader takes): the cosine of each image's two
 * embeddings, per prompt the Spearman of the two score lists and whether the top-1 is the same
 * candidate; then the vision tower alone, fp32 against the candidate, at each --sizes image
 * count, in alternating rounds in this one process, in chunks of ClipReranker's batch (64
 * images per run, as the reranker runs it), with the app's threads (kernelOptions): median
 * wall ms and CPU ms of each.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AutoProcessor, env, RawImage, type Tensor } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { cpuFlagsLine, machineLine, median } from './machine.js';
import { readManifest, type ModelManifest } from '../../src/model/manifest.js';
import { kernelOptions } from '../../src/model/runtime.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { ClipReranker, cosine } from '../../src/rerank/clip-reranker.js';
import type { RgbImage } from '../../src/types.js';
import { spearman, widenRanges } from './vq-int8.js';

/** Images per vision run (ClipReranker's batch). */
const CHUNK = 64;

interface PromptImages {
  prompt: string;
  images: RgbImage[];
}

/** `count` prompts of the frozen eval set (picked by `seed`), `candidates` decoded candidates each. */
export async function candidateImages(dir: string, manifest: ModelManifest, count: number, candidates: number, seed: number): Promise<PromptImages[]> {
  const prompts = (JSON.parse(readFileSync(path.join(import.meta.dirname, '../../eval/prompts.json'), 'utf8')) as { prompts: { prompt: string }[] }).prompts;
  const precision = manifest.variants?.int8 === undefined ? 'fp32' : 'int8';
  const tessera = await Tessera.load({ model: dir, rerank: false, precision });
  const sets: PromptImages[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const prompt = prompts[(seed * 53 + i * 29) % prompts.length].prompt;
      const result = await tessera.generate({ prompt, seed: seed * 1000 + i, candidates, keep: 1 });
      sets.push({ prompt, images: result.candidates.map((c) => c.image) });
    }
  } finally {
    await tessera.dispose();
  }
  return sets;
}

/** The CLIP processor's pixel_values of `images` ([N, 3, S, S] floats), as ClipReranker feeds them. */
async function pixelValues(clipDir: string, images: readonly RgbImage[]): Promise<ort.Tensor> {
  env.allowRemoteModels = false; // only the package's folder is read (as ClipReranker does)
  env.localModelPath = path.dirname(path.resolve(clipDir));
  const processor = await AutoProcessor.from_pretrained(path.basename(clipDir), { local_files_only: true });
  const raw = images.map((image) => new RawImage(new Uint8ClampedArray(image.data.buffer, image.data.byteOffset, image.data.length), image.width, image.height, 3));
  const { pixel_values } = (await processor(raw)) as { pixel_values: Tensor };
  return new ort.Tensor('float32', pixel_values.data as Float32Array, pixel_values.dims as number[]); // [N, 3, S, S]
}

function session(file: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(file, { ...kernelOptions(), graphOptimizationLevel: 'all' });
}

/** Rows [start, end) of an [N, ...] float tensor. */
function rows(tensor: ort.Tensor, start: number, end: number): ort.Tensor {
  const [n, ...rest] = tensor.dims;
  const width = rest.reduce((a, b) => a * b, 1);
  const data = tensor.data as Float32Array;
  return new ort.Tensor('float32', data.subarray(start * width, Math.min(end, n) * width), [Math.min(end, n) - start, ...rest]);
}

async function calibrate(clipDir: string, graphFile: string, names: string[], images: RgbImage[]): Promise<Record<string, [number, number]>> {
  const graph = await session(graphFile);
  const pixels = await pixelValues(clipDir, images);
  const ranges: Record<string, [number, number]> = Object.fromEntries(names.map((n) => [n, [Infinity, -Infinity]]));
  for (let start = 0; start < images.length; start += CHUNK) {
    const out = await graph.run({ pixel_values: rows(pixels, start, start + CHUNK) }, names);
    widenRanges(ranges, out, names);
  }
  await graph.release();
  return ranges;
}

/** Per prompt: embeddings' cosine, Spearman of the scores, same top-1; fp32 CLIP against the candidate vision graph. */
async function fidelity(clipDir: string, visionGraph: string, sets: PromptImages[]) {
  const fp32 = await ClipReranker.load(clipDir, 'cpu');
  const int8 = await ClipReranker.load(clipDir, 'cpu', { visionGraph });
  const top = (s: number[]) => s.indexOf(Math.max(...s));
  const perPrompt = [];
  const cosines: number[] = [];
  try {
    for (const { prompt, images } of sets) {
      const a = await fp32.scoreWithEmbeddings(prompt, images);
      const b = await int8.scoreWithEmbeddings(prompt, images);
      const c = a.imageEmbeddings.map((e, i) => cosine(e, b.imageEmbeddings[i]));
      cosines.push(...c);
      const sorted = [...a.scores].sort((x, y) => y - x);
      perPrompt.push({
        prompt,
        images: images.length,
        spearman: spearman(a.scores, b.scores),
        sameTop1: top(a.scores) === top(b.scores),
        fp32Top1Gap: sorted[0] - sorted[1], // how clear fp32's winner was
        cosineMin: Math.min(...c),
      });
    }
  } finally {
    await Promise.all([fp32.dispose(), int8.dispose()]);
  }
  return {
    prompts: sets.length,
    images: cosines.length,
    cosineMean: cosines.reduce((x, y) => x + y, 0) / cosines.length,
    cosineMin: Math.min(...cosines),
    spearmanMin: Math.min(...perPrompt.map((p) => p.spearman)),
    spearmanMean: perPrompt.reduce((x, p) => x + p.spearman, 0) / perPrompt.length,
    top1Agreement: perPrompt.filter((p) => p.sameTop1).length / perPrompt.length,
    perPrompt,
  };
}

type Timing = { wallMs: number; cpuMs: number };

/**
 * The vision tower alone, fp32 graph against the candidate, alternating rounds at each size, in
 * two settings: one thread without spinning (its CPU ms: the gate's figure, as vq-int8's, since
 * this 2-core machine is shared and wall time moves with the neighbours) and the app's threads
 * (kernelOptions; wall ms, what a request sees).
 */
async function speed(clipDir: string, graphFile: string, images: RgbImage[], sizes: number[], rounds: number) {
  const files = { fp32: path.join(clipDir, 'onnx/vision_model.onnx'), int8: graphFile };
  const oneThread = { intraOpNumThreads: 1, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const, extra: { session: { intra_op: { allow_spinning: '0' } } } };
  const settings = {
    oneThread: { fp32: await ort.InferenceSession.create(files.fp32, oneThread), int8: await ort.InferenceSession.create(files.int8, oneThread) },
    app: { fp32: await session(files.fp32), int8: await session(files.int8) },
  };
  const results = [];
  try {
    for (const size of sizes) {
      const picked = Array.from({ length: size }, (_, i) => images[i % images.length]);
      const pixels = await pixelValues(clipDir, picked);
      const time = async (graph: ort.InferenceSession): Promise<Timing> => {
        const [wall0, cpu0] = [performance.now(), process.cpuUsage()];
        for (let start = 0; start < size; start += CHUNK) await graph.run({ pixel_values: rows(pixels, start, start + CHUNK) });
        const cpu = process.cpuUsage(cpu0);
        return { wallMs: performance.now() - wall0, cpuMs: (cpu.user + cpu.system) / 1000 };
      };
      const figures: Record<string, number> = {};
      for (const [name, graphs] of Object.entries(settings)) {
        await time(graphs.fp32); // first runs (allocation, prepacking) untimed
        await time(graphs.int8);
        const t = { fp32: [] as Timing[], int8: [] as Timing[] };
        for (let r = 0; r < rounds; r++) {
          const order = r % 2 === 0 ? (['fp32', 'int8'] as const) : (['int8', 'fp32'] as const);
          for (const p of order) t[p].push(await time(graphs[p]));
        }
        const key = name === 'oneThread' ? 'cpuMs' : 'wallMs';
        figures[`${name}Fp32${key === 'cpuMs' ? 'Cpu' : 'Wall'}Ms`] = median(t.fp32.map((x) => x[key]));
        figures[`${name}Int8${key === 'cpuMs' ? 'Cpu' : 'Wall'}Ms`] = median(t.int8.map((x) => x[key]));
        figures[`${name}Speedup`] = median(t.fp32.map((x, i) => x[key] / t.int8[i][key])); // median of the paired per-round ratios
      }
      results.push({ images: size, rounds, ...figures, speedup: figures.oneThreadSpeedup });
    }
  } finally {
    await Promise.all(Object.values(settings).flatMap((g) => [g.fp32.release(), g.int8.release()]));
  }
  return results;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      package: { type: 'string' }, graph: { type: 'string' }, names: { type: 'string', default: '' },
      images: { type: 'string', default: '64' }, prompts: { type: 'string', default: '8' }, candidates: { type: 'string', default: '64' },
      seed: { type: 'string' }, rounds: { type: 'string', default: '7' }, sizes: { type: 'string', default: '32,128' },
    },
  });
  const dir = path.resolve(values.package ?? '.');
  const manifest = readManifest(dir);
  if (manifest.clip === null) throw new Error(`${dir}: the package has no CLIP`);
  const clipDir = path.join(dir, manifest.clip);
  const graphFile = path.resolve(dir, values.graph ?? '');
  const mode = positionals[0];
  console.log(machineLine());
  console.log(cpuFlagsLine());
  let result: unknown;
  if (mode === 'calibrate') {
    const count = Number(values.images);
    const sets = await candidateImages(dir, manifest, Math.ceil(count / 16), 16, Number(values.seed ?? 1));
    const images = sets.flatMap((s) => s.images).slice(0, count);
    result = await calibrate(clipDir, graphFile, (values.names ?? '').split(',').filter(Boolean), images);
  } else if (mode === 'gate') {
    const sets = await candidateImages(dir, manifest, Number(values.prompts), Number(values.candidates), Number(values.seed ?? 2));
    const visionGraph = path.relative(clipDir, graphFile).split(path.sep).join('/');
    const ranking = await fidelity(clipDir, visionGraph, sets);
    const sizes = (values.sizes ?? '').split(',').map(Number);
    const timing = await speed(clipDir, graphFile, sets.flatMap((s) => s.images), sizes, Number(values.rounds));
    console.log(machineLine()); // the load after the timed rounds too
    result = { ...ranking, speed: timing, machine: machineLine(), cpuFlags: cpuFlagsLine() };
  } else {
    throw new Error(`unknown mode ${mode}: calibrate or gate`);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await main();
