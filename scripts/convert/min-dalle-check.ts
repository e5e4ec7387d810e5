// Check a package written by scripts/convert/min_dalle.py against reference data written by
// min_dalle_reference.py (min-dalle's own outputs, and this project's PyTorch modules on fixed
// inputs), through onnxruntime-node and transformers.js, as the TypeScript side will run them.
//
//   npx tsx scripts/convert/min-dalle-check.ts --pkg DIR --ref DIR
//   npx tsx scripts/convert/min-dalle-check.ts --pkg DIR --time PROMPT [--threads 2]
//
// --time generates one image greedily (2 rows: unconditional and prompt) and prints the time
// of each phase and the process's peak memory.
//
// The graphs are checked one by one here through onnxruntime-node; greedy sampling goes through
// Tessera's own encoder-decoder generator (src/generator/encoder-decoder), so the cache layout of
// the graph contract has one implementation.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import * as ort from 'onnxruntime-node';
import { loadModel } from '../../src/pipeline/loader.js';
import { DEFAULT_STEP_CACHE, type StepCacheLayout } from '../../src/model/manifest.js';

export interface MinDalleReference {
  tokenizer: { prompt: string; ids: number[] }[];
  encoder: { input_ids: number[][]; encoder_state: number[] };
  greedy: {
    settings: { top_k: number; supercondition_factor: number; temperature: number };
    cases: { prompt: string; conditionalIds: number[]; unconditionalIds: number[]; tokens: number[] }[];
  };
  step: { logits: string; new_keys_sum: number; new_values_sum: number; new_keys_abs_sum: number };
  detokenizer: { stride: number; sample: string };
}

interface Manifest {
  text: { length: number; padId: number; unconditionalIds: number[] };
  generator: { layers: number; heads: number; headDim: number; maxLength: number; prefill: string; step: string; cache?: StepCacheLayout };
  encoderDecoder: { textEncoder: string; width: number; imageStartToken: number };
  image: { vocabSize: number };
  decoder: string;
}

/** Minimal .npy reader for little-endian float32, C order. */
export function readNpyFloat32(file: string): { shape: number[]; data: Float32Array } {
  const buf = readFileSync(file);
  const headerLen = buf[6] === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = buf[6] === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString('latin1');
  if (!header.includes("'<f4'") || header.includes("'fortran_order': True")) throw new Error(`${file}: expected C-order <f4`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)![1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const bytes = buf.subarray(start + headerLen);
  return { shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)) };
}

/** The deterministic slot contents of min_dalle_reference.formula: 1.5 * sin(0.731 i + phase). */
export function formula(n: number, phase: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1.5 * Math.sin(i * 0.731 + phase);
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

const i64 = (values: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);

export class MinDallePackage {
  private constructor(
    readonly manifest: Manifest,
    private readonly tokenizer: PreTrainedTokenizer,
    private readonly encoder: ort.InferenceSession,
    private readonly prefill: ort.InferenceSession,
    private readonly stepSession: ort.InferenceSession,
    private readonly detokenizer: ort.InferenceSession,
  ) {}

  static async load(dir: string, threads = 1): Promise<MinDallePackage> {
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as Manifest;
    const tokenizer = new PreTrainedTokenizer(JSON.parse(readFileSync(path.join(dir, 'tokenizer.json'), 'utf8')), {});
    const options: ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1 };
    const open = (file: string) => ort.InferenceSession.create(path.join(dir, file), options);
    const g = manifest.generator;
    return new MinDallePackage(manifest, tokenizer, await open(manifest.encoderDecoder.textEncoder), await open(g.prefill),
      await open(g.step), await open(manifest.decoder));
  }

  /** min-dalle's ids: <s> words </s>, then cut to text.length (a long prompt loses its </s>, as in min-dalle). */
  tokenize(prompt: string): number[] {
    return this.tokenizer.encode(prompt).slice(0, this.manifest.text.length);
  }

  /** [ids..., pad...] of text.length. */
  pad(ids: number[]): number[] {
    const { length, padId } = this.manifest.text;
    return [...ids, ...new Array(length - ids.length).fill(padId)];
  }

  async encode(rows: number[][]): Promise<Float32Array> {
    const out = await this.encoder.run({ input_ids: i64(rows.flat(), [rows.length, rows[0].length]) });
    return out.encoder_state.data as Float32Array; // [P, T, E]
  }

  async step(feeds: Record<string, ort.Tensor>): Promise<{ logits: Float32Array; newKeys: Float32Array; newValues: Float32Array }> {
    const out = await this.stepSession.run(feeds);
    return { logits: out.logits.data as Float32Array, newKeys: out.new_keys.data as Float32Array, newValues: out.new_values.data as Float32Array };
  }

  /** The fixed step inputs of min_dalle_reference.step_inputs. */
  referenceStepFeeds(): Record<string, ort.Tensor> {
    const { layers: L, heads: H, headDim: D, maxLength: S } = this.manifest.generator;
    const T = this.manifest.text.length;
    const positions = [0, 77, 200];
    const textLengths = [2, 9, 64];
    const R = positions.length;
    const feeds: Record<string, ort.Tensor> = {
      input_ids: i64([2 ** 14 - 1, 123, 9999], [R, 1]),
      position_ids: i64(positions, [R, 1]),
      attention_mask: new ort.Tensor('float32', Float32Array.from({ length: R * S }, (_, j) => (j % S < positions[Math.floor(j / S)] ? 1 : 0)), [R, S]),
      text_mask: new ort.Tensor('float32', Float32Array.from({ length: R * T }, (_, j) => (j % T < textLengths[Math.floor(j / T)] ? 1 : 0)), [R, T]),
    };
    const groups: [string, number, number[]][] = [
      ['past_key', 0.1, [R, H, D, S]], ['past_value', 0.2, [R, H, S, D]], ['cross_key', 0.3, [R, H, D, T]], ['cross_value', 0.4, [R, H, T, D]],
    ];
    for (const [name, phase, dims] of groups) {
      for (let l = 0; l < L; l++) feeds[`${name}_${l}`] = new ort.Tensor('float32', formula(dims.reduce((a, b) => a * b), l + phase), dims);
    }
    // The formula fills past keys transposed ([R, H, D, S]); a package with plain keys takes them [R, H, S, D].
    if ((this.manifest.generator.cache ?? DEFAULT_STEP_CACHE).keys === 'plain') {
      for (let l = 0; l < L; l++) {
        const transposed = feeds[`past_key_${l}`].data as Float32Array;
        const plain = new Float32Array(transposed.length);
        for (let rh = 0; rh < R * H; rh++) for (let d = 0; d < D; d++) for (let s = 0; s < S; s++) plain[(rh * S + s) * D + d] = transposed[(rh * D + d) * S + s];
        feeds[`past_key_${l}`] = new ort.Tensor('float32', plain, [R, H, S, D]);
      }
    }
    return feeds;
  }

  async detokenize(codes: number[]): Promise<Float32Array> {
    const out = await this.detokenizer.run({ codes: i64(codes, [1, 16, 16]) });
    return out.images.data as Float32Array; // [1, 3, 256, 256]
  }
}

/** Greedy grids (top-k 1, min-dalle's supercondition mix) for each text, in one batch, by Tessera's generator. */
export async function greedyTokens(pkgDir: string, texts: { conditionalIds: number[]; unconditionalIds: number[] }[],
  factor: number): Promise<number[][]> {
  const model = await loadModel({ model: pkgDir, rerank: false });
  const grids = await model.sampler.generate(texts.map((t) => ({
    textIds: t.conditionalIds, unconditionalIds: t.unconditionalIds, guidanceScale: factor, seed: 1, candidateIndex: 0,
    processors: { temperature: 1, topK: 1, topP: 1 },
  })));
  return grids.map((grid) => Array.from(grid));
}

export function readReference(dir: string): MinDalleReference {
  return JSON.parse(readFileSync(path.join(dir, 'reference.json'), 'utf8')) as MinDalleReference;
}

async function main(): Promise<number> {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const pkgDir = arg('pkg');
  const refDir = arg('ref');
  const prompt = arg('time');
  if (!pkgDir || (!refDir && prompt === undefined)) {
    console.error('usage: npx tsx scripts/convert/min-dalle-check.ts --pkg DIR (--ref DIR | --time PROMPT [--threads N])');
    return 2;
  }
  const loadStart = performance.now();
  const pkg = await MinDallePackage.load(pkgDir, Number(arg('threads') ?? '1'));
  if (prompt !== undefined) {
    const loaded = performance.now();
    const [tokens] = await greedyTokens(pkgDir, [{ conditionalIds: pkg.pad(pkg.tokenize(prompt)), unconditionalIds: pkg.manifest.text.unconditionalIds }],
      16);
    const sampled = performance.now();
    await pkg.detokenize(tokens);
    const done = performance.now();
    console.log(`load ${((loaded - loadStart) / 1000).toFixed(1)} s; encoder + prefill + 256 steps (2 rows) ${((sampled - loaded) / 1000).toFixed(1)} s; ` +
      `detokenize ${((done - sampled) / 1000).toFixed(1)} s; peak RSS ${(process.resourceUsage().maxRSS / 1024 / 1024).toFixed(2)} GB`);
    return 0;
  }
  const ref = readReference(refDir!);
  let ok = true;
  const report = (pass: boolean, line: string) => {
    console.log(`${pass ? 'ok   ' : 'FAIL '} ${line}`);
    ok &&= pass;
  };
  const tokenizerMisses = ref.tokenizer.filter(({ prompt, ids }) => JSON.stringify(pkg.tokenize(prompt)) !== JSON.stringify(ids.slice(0, 64)));
  report(tokenizerMisses.length === 0, `tokenizer ids equal min-dalle's on ${ref.tokenizer.length - tokenizerMisses.length}/${ref.tokenizer.length} prompts`);
  const state = await pkg.encode(ref.encoder.input_ids);
  const encoderDiff = maxAbsDiff(state, ref.encoder.encoder_state);
  report(encoderDiff < 1e-4, `encoder states vs min-dalle's: max abs diff ${encoderDiff.toExponential(2)}`);
  const step = await pkg.step(pkg.referenceStepFeeds());
  const logitsDiff = maxAbsDiff(step.logits, readNpyFloat32(path.join(refDir!, ref.step.logits)).data);
  report(logitsDiff < 1e-3, `step logits vs PyTorch: max abs diff ${logitsDiff.toExponential(2)}`);
  const grids = await greedyTokens(pkgDir, ref.greedy.cases, ref.greedy.settings.supercondition_factor);
  for (const [i, c] of ref.greedy.cases.entries()) {
    const tokens = grids[i];
    const same = tokens.filter((t, i) => t === c.tokens[i]).length;
    report(same === c.tokens.length, `greedy tokens of ${JSON.stringify(c.prompt)} equal min-dalle's: ${same}/${c.tokens.length}`);
  }
  const pixels = await pkg.detokenize(ref.greedy.cases[0].tokens);
  const sample = pixels.filter((_, i) => i % ref.detokenizer.stride === 0);
  const pixelDiff = maxAbsDiff(sample, readNpyFloat32(path.join(refDir!, ref.detokenizer.sample)).data);
  report(pixelDiff < 1e-4, `detokenizer pixels vs PyTorch: max abs diff ${pixelDiff.toExponential(2)}`);
  console.log(ok ? 'CHECK OK' : 'CHECK FAILED');
  return ok ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().then((code) => process.exit(code));
}
