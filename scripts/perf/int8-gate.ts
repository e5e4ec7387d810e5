/**
 * The int8 variant's fidelity gate (issue 27), run by scripts/perf/quantize_int8.py --mode
 * dynamic before it declares a variant, and usable alone:
 *
 *   node --import tsx scripts/perf/int8-gate.ts --package DIR --prefill generator/prefill.int8.onnx \
 *       --step generator/step.int8.onnx [--rows 32] [--prefixes 8] [--steps 0] [--seed 27]
 *
 * The package's fp32 generator and the same generator on the given int8 graphs run in
 * onnxruntime-node side by side on the same text prefixes (prompts of the frozen eval set
 * through the package's tokenizer, plus the unconditional prefix), and are then fed the same
 * image tokens (drawn from the fp32 logits, seeded), each with its own KV cache, so the int8
 * cache drifts as it would in use. At the prefill and at every step: does the top token
 * (argmax over the image vocabulary) agree, and the cosine of the two logit rows. Prints
 * one JSON line.
 *
 * --torch (decoder-only packages): the prefill's logits are also checked against PyTorch
 * (scripts/perf/int8_torch_reference.py: the same model with every Linear but the head done
 * in the variant's integer arithmetic), the fp32 graph against the float PyTorch model, the
 * int8 graph against the int8 one: an independent implementation of what the rewrite means.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DecoderOnlyGenerator } from '../../src/generator/decoder-only/generator.js';
import { EncoderDecoderGenerator } from '../../src/generator/encoder-decoder/generator.js';
import { logitsRow, type ImageLogits, type ImageTokenGenerator, type RowCache } from '../../src/generator/generator.js';
import { readManifest, type ModelManifest } from '../../src/model/manifest.js';
import { createSession } from '../../src/model/runtime.js';
import { TextTokenizer } from '../../src/text/tokenizer.js';
import { createRng } from '../../eval/world/prng.js';

export interface GateResult {
  rows: number;
  prefixes: number;
  /** Image positions compared after the prefill's (steps fed). */
  steps: number;
  prefillTop1: number;
  prefillCosineMean: number;
  /** Share of (row, step) pairs whose top image token agrees. */
  stepTop1: number;
  firstStepTop1: number;
  lastStepTop1: number;
  stepCosineMean: number;
  stepCosineMin: number;
  /** Largest |int8 - fp32| over all compared logits, relative to the largest |fp32| logit. */
  maxRelativeDifference: number;
}

/** Loads a package's generator, optionally on other prefill/step files (relative to the package). */
export async function loadGenerator(dir: string, manifest: ModelManifest, files?: { prefill: string; step: string }): Promise<ImageTokenGenerator> {
  const file = (relative: string) => path.join(dir, relative);
  const prefill = await createSession(file(files?.prefill ?? manifest.generator.prefill), 'cpu');
  const step = await createSession(file(files?.step ?? manifest.generator.step), 'cpu');
  if (manifest.architecture === 'encoder-decoder') {
    const textEncoder = await createSession(file(manifest.encoderDecoder?.textEncoder ?? ''), 'cpu');
    return new EncoderDecoderGenerator(manifest, textEncoder, prefill, step);
  }
  return new DecoderOnlyGenerator(manifest, prefill, step);
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return aa === 0 || bb === 0 ? (aa === bb ? 1 : 0) : ab / Math.sqrt(aa * bb);
}

/** A draw from softmax(row) (temperature 1), by inverse CDF. */
function draw(row: Float32Array, u: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let total = 0;
  for (const v of row) total += Math.exp(v - max);
  let target = u * total;
  for (let i = 0; i < row.length; i++) {
    target -= Math.exp(row[i] - max);
    if (target <= 0) return i;
  }
  return row.length - 1;
}

interface Tally {
  agree: number;
  count: number;
  cosineSum: number;
  cosineMin: number;
  maxDiff: number;
  maxAbs: number;
}

function tally(a: ImageLogits, b: ImageLogits, rows: number, vocab: number, into: Tally): void {
  for (let r = 0; r < rows; r++) {
    const x = logitsRow(a, r, vocab); // [imageVocab]
    const y = logitsRow(b, r, vocab); // [imageVocab]
    into.agree += argmax(x) === argmax(y) ? 1 : 0;
    into.count += 1;
    const c = cosine(x, y);
    into.cosineSum += c;
    into.cosineMin = Math.min(into.cosineMin, c);
    for (let i = 0; i < vocab; i++) {
      into.maxDiff = Math.max(into.maxDiff, Math.abs(x[i] - y[i]));
      into.maxAbs = Math.max(into.maxAbs, Math.abs(x[i]));
    }
  }
}

const emptyTally = (): Tally => ({ agree: 0, count: 0, cosineSum: 0, cosineMin: 1, maxDiff: 0, maxAbs: 0 });

/** The comparison itself (see the module doc): `prefixes` text ids, `rows` rows over them round-robin. */
export async function compareGenerators(
  fp32: ImageTokenGenerator,
  int8: ImageTokenGenerator,
  prefixes: readonly (readonly number[])[],
  options: { rows: number; steps: number; seed: number },
): Promise<GateResult> {
  const vocab = fp32.imageVocab;
  const steps = Math.min(options.steps > 0 ? options.steps : fp32.imageTokens - 1, fp32.imageTokens - 1);
  const [a, b] = [await fp32.prefill(prefixes), await int8.prefill(prefixes)];
  const prefill = emptyTally();
  tally(a.logits, b.logits, prefixes.length, vocab, prefill);
  const rows = options.rows;
  const [cacheA, cacheB]: RowCache[] = [fp32.allocate(rows), int8.allocate(rows)];
  for (let r = 0; r < rows; r++) {
    fp32.writePrefix(cacheA, r, a, r % prefixes.length);
    int8.writePrefix(cacheB, r, b, r % prefixes.length);
  }
  const u = createRng(options.seed).next;
  const codes = new Int32Array(rows); // [rows]
  for (let r = 0; r < rows; r++) codes[r] = draw(logitsRow(a.logits, r % prefixes.length, vocab), u());
  const all = emptyTally();
  const perStep: number[] = [];
  for (let j = 0; j < steps; j++) {
    const positions = new Int32Array(rows).fill(j); // [rows]
    const x = await fp32.step(cacheA, codes, positions);
    const y = await int8.step(cacheB, codes, positions);
    const step = emptyTally();
    tally(x, y, rows, vocab, step);
    perStep.push(step.agree / step.count);
    all.agree += step.agree;
    all.count += step.count;
    all.cosineSum += step.cosineSum;
    all.cosineMin = Math.min(all.cosineMin, step.cosineMin);
    all.maxDiff = Math.max(all.maxDiff, step.maxDiff);
    all.maxAbs = Math.max(all.maxAbs, step.maxAbs);
    for (let r = 0; r < rows; r++) codes[r] = draw(logitsRow(x, r, vocab), u());
  }
  const mean = (v: number[]) => v.reduce((s, t) => s + t, 0) / Math.max(1, v.length);
  const tenth = Math.max(1, Math.floor(perStep.length / 10));
  return {
    rows,
    prefixes: prefixes.length,
    steps,
    prefillTop1: prefill.agree / prefill.count,
    prefillCosineMean: prefill.cosineSum / prefill.count,
    stepTop1: all.agree / Math.max(1, all.count),
    firstStepTop1: mean(perStep.slice(0, tenth)),
    lastStepTop1: mean(perStep.slice(-tenth)),
    stepCosineMean: all.cosineSum / Math.max(1, all.count),
    stepCosineMin: all.cosineMin,
    maxRelativeDifference: Math.max(prefill.maxDiff, all.maxDiff) / Math.max(prefill.maxAbs, all.maxAbs, Number.MIN_VALUE),
  };
}

/** Text prefixes for the gate: prompts of the frozen eval set (round-robin by category) through the package's tokenizer, and the unconditional prefix. */
export function gatePrefixes(dir: string, manifest: ModelManifest, count: number): number[][] {
  const tokenizer = TextTokenizer.fromFile(path.join(dir, manifest.text.tokenizer), manifest);
  const prompts = (JSON.parse(readFileSync(path.join(import.meta.dirname, '../../eval/prompts.json'), 'utf8')) as { prompts?: { prompt: string }[] } | { prompt: string }[]);
  const list = Array.isArray(prompts) ? prompts : (prompts.prompts ?? []);
  const step = Math.max(1, Math.floor(list.length / Math.max(1, count - 1)));
  const texts = list.filter((_, i) => i % step === 0).slice(0, Math.max(0, count - 1));
  return [...texts.map((p) => [...tokenizer.encode(p.prompt).ids]), [...manifest.text.unconditionalIds]];
}

/** Agreement of a generator's prefill logits with PyTorch's for the same prefixes (see --torch). */
export async function againstTorch(generator: ImageTokenGenerator, dir: string, manifest: ModelManifest, prefixes: readonly (readonly number[])[], int8: boolean) {
  const args = ['scripts/perf/int8_torch_reference.py', '--package', dir, '--ids', prefixes.map((p) => p.join(',')).join(';'), ...(int8 ? [] : ['--fp32'])];
  const run = spawnSync(process.env.TESSERA_PYTHON ?? '/usr/bin/python3', args, {
    cwd: path.join(import.meta.dirname, '../..'),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: process.env.TESSERA_THREADS ?? '2' },
  });
  if (run.status !== 0) throw new Error(`int8_torch_reference.py failed: ${run.stderr}`);
  const torch = (JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { logits: number[][] }).logits; // [P, V]
  const ours = await generator.prefill(prefixes);
  const vocab = generator.imageVocab;
  const textVocab = manifest.text.vocabSize;
  const t = emptyTally();
  const reference: ImageLogits = { rows: prefixes.length, data: Float32Array.from(torch.flatMap((row) => row.slice(textVocab, textVocab + vocab))), stride: vocab, offset: 0 };
  tally(reference, ours.logits, prefixes.length, vocab, t);
  return { top1: t.agree / t.count, cosineMin: t.cosineMin, maxRelativeDifference: t.maxDiff / Math.max(t.maxAbs, Number.MIN_VALUE) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      package: { type: 'string' },
      prefill: { type: 'string' },
      step: { type: 'string' },
      rows: { type: 'string', default: '32' },
      prefixes: { type: 'string', default: '8' },
      steps: { type: 'string', default: '0' },
      seed: { type: 'string', default: '27' },
      torch: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.package === undefined || values.prefill === undefined || values.step === undefined) {
    throw new Error('usage: int8-gate.ts --package DIR --prefill REL --step REL [--rows N] [--prefixes N] [--steps N] [--seed N]');
  }
  const dir = path.resolve(values.package);
  const manifest = readManifest(dir);
  const fp32 = await loadGenerator(dir, manifest);
  const int8 = await loadGenerator(dir, manifest, { prefill: values.prefill, step: values.step });
  const prefixes = gatePrefixes(dir, manifest, Number(values.prefixes));
  const result: GateResult & { torch?: unknown } = await compareGenerators(fp32, int8, prefixes, {
    rows: Number(values.rows),
    steps: Number(values.steps),
    seed: Number(values.seed),
  });
  if (values.torch && manifest.architecture === 'decoder-only') {
    result.torch = { fp32VsTorchFp32: await againstTorch(fp32, dir, manifest, prefixes, false), int8VsTorchInt8: await againstTorch(int8, dir, manifest, prefixes, true) };
  }
  console.log(JSON.stringify(result));
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) await main();
