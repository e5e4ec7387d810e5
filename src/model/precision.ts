/**
 * Which precision of a package's graphs runs on this machine (issue 27, point 2).
 *
 * `fp32` is the package's own graphs; `int8` its `variants.int8` (docs/model-package.md).
 * `auto` decides from measurement, never from a list of CPU names: integer matrix units
 * (VNNI, AMX) make the int8 step several times faster on some CPUs and slower on others
 * (an AVX2 CPU without VNNI), and the only reliable way to know is to time both. The first
 * use of a package on a machine runs a short probe: a few alternating, paired timings of
 * one generator step of each precision at the row count the run will use (bucketed to a
 * power of two). int8 is chosen only when its median paired ratio beats fp32 by a margin,
 * so that where it does not pay, auto runs fp32 and costs nothing but the probe. The
 * decision is cached per CPU (model name + a hash of its flags), device, thread count,
 * package hash and row bucket under the user's cache directory; a new CPU, package or
 * bucket probes again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allowed, TesseraError } from '../errors.js';
import type { ModelManifest } from './manifest.js';
import type { Precision, PrecisionChoice, PrecisionReason, PrecisionReport, ProbeResult } from '../types.js';

/** What a user may ask for (`--precision`). */
export const PRECISION_CHOICES = ['auto', 'fp32', 'int8'] as const satisfies readonly PrecisionChoice[];
export type { Precision, PrecisionChoice, PrecisionReason, PrecisionReport, ProbeResult };

/**
 * int8 must be at least this much faster (median paired ratio <= 1 - margin) to be chosen.
 * The pairs share the machine's noise; 5% is above the spread of paired step ratios seen on a
 * quiet 2-core machine, so a CPU where int8 does not pay keeps fp32 (issue 27: auto within 3%
 * of fp32 without VNNI), and one where it does (1.4x and more) still gets it.
 */
export const INT8_MARGIN = 0.05;
/** Timed pairs after one untimed warm-up step of each precision (at most; see PROBE_BUDGET_MS). */
export const PROBE_PAIRS = 4;
/** Fewest timed pairs, whatever the budget. */
export const PROBE_MIN_PAIRS = 2;
/**
 * The probe stops adding pairs once its timed steps add up to this: at large row counts a
 * step of the shipped model takes tens of ms (and a Mini step far more), and a first run
 * should not wait seconds for a decision. Longer steps are also relatively less noisy.
 */
export const PROBE_BUDGET_MS = 300;
export const MAX_PROBE_ROWS = 4096;

/**
 * Checks a `--precision` value (or the API/engine option); anything else is TESSERA_ERR_OPTION.
 * Unset, it is `TESSERA_PRECISION` (checked the same way) or `auto`: the environment lets a
 * deployment, or a test suite that pins fp32 outputs, fix the default on every face at once.
 */
export function parsePrecision(value: unknown, param = 'precision', env: NodeJS.ProcessEnv = process.env): PrecisionChoice {
  if (value === undefined) {
    const fromEnv = env.TESSERA_PRECISION;
    if (fromEnv === undefined || fromEnv === '') return 'auto';
    if (!(PRECISION_CHOICES as readonly string[]).includes(fromEnv)) {
      throw new TesseraError('TESSERA_ERR_OPTION', `TESSERA_PRECISION must be one of ${allowed(PRECISION_CHOICES)}, got ${JSON.stringify(fromEnv)}`, { param: 'TESSERA_PRECISION' });
    }
    return fromEnv as PrecisionChoice;
  }
  if (typeof value !== 'string' || !(PRECISION_CHOICES as readonly string[]).includes(value)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--${param} must be one of ${allowed(PRECISION_CHOICES)}, got ${JSON.stringify(value)}`, { param });
  }
  return value as PrecisionChoice;
}

/** The graphs (paths relative to the package) that run at `precision`. */
export interface PrecisionGraphs {
  prefill: string;
  step: string;
  decoder: string;
  clip: string | null;
  /** The CLIP's vision graph when it is not the folder's own onnx/vision_model.onnx (a variant's `clipVision`); null: the folder's own. */
  clipVision: string | null;
}

/** The package's own graphs for fp32; a variant's, with the fp32 decoder/CLIP where the variant has none. */
export function graphsFor(manifest: ModelManifest, precision: Precision): PrecisionGraphs {
  const own: PrecisionGraphs = { prefill: manifest.generator.prefill, step: manifest.generator.step, decoder: manifest.decoder, clip: manifest.clip, clipVision: null };
  if (precision === 'fp32') return own;
  const variant = manifest.variants?.[precision];
  if (variant === undefined) throw noVariant(manifest, precision);
  const clip = own.clip === null ? null : (variant.clip ?? own.clip);
  return { prefill: variant.generator.prefill, step: variant.generator.step, decoder: variant.decoder ?? own.decoder, clip, clipVision: clip === null ? null : (variant.clipVision ?? null) };
}

/**
 * The precision a load of `requested` prepares for before `auto` has decided: the asked one;
 * for auto the int8 variant when the package has one (what auto picks on CPUs with integer
 * units; the lanes and the first cache are set up for it while the package loads).
 */
export function likelyPrecision(manifest: ModelManifest, requested: PrecisionChoice): Precision {
  if (requested !== 'auto') return requested;
  return manifest.variants?.int8 !== undefined ? 'int8' : 'fp32';
}

export function noVariant(manifest: ModelManifest, precision: Precision): TesseraError {
  const have = ['fp32', ...Object.keys(manifest.variants ?? {})];
  return new TesseraError(
    'TESSERA_ERR_PRECISION_UNAVAILABLE',
    `model package ${JSON.stringify(manifest.name)} has no ${precision} variant (manifest.variants.${precision}); it runs at ${allowed(have)}: use --precision auto or fp32, or add the variant with scripts/perf (docs/model-package.md)`,
    { param: 'precision' },
  );
}

/** Rows rounded up to a power of two (1 .. MAX_PROBE_ROWS): step cost changes smoothly with rows, so a bucket shares one decision. */
export function rowBucket(rows: number): number {
  const r = Math.min(Math.max(1, Math.ceil(Number.isFinite(rows) ? rows : 1)), MAX_PROBE_ROWS);
  return 2 ** Math.ceil(Math.log2(r));
}

/**
 * This CPU as a cache key: its model name and a hash of its feature flags (a VM may hide
 * VNNI from one guest and not another of the same name). Linux reads /proc/cpuinfo;
 * elsewhere the model name from os.cpus() and the architecture.
 */
export function cpuKey(cpuinfo: string | null = readCpuinfo()): string {
  if (cpuinfo !== null) {
    const model = /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim();
    const flags = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/).sort().join(' ');
    if (model !== undefined || flags !== undefined) {
      return `${model ?? os.cpus()[0]?.model ?? 'unknown cpu'} [flags ${createHash('sha256').update(flags ?? '').digest('hex').slice(0, 12)}]`;
    }
  }
  return `${os.cpus()[0]?.model ?? 'unknown cpu'} [${process.arch}]`;
}

function readCpuinfo(): string | null {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return null;
  }
}

/** $TESSERA_CACHE_DIR, else $XDG_CACHE_HOME/tessera, else ~/.cache/tessera. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TESSERA_CACHE_DIR) return path.resolve(env.TESSERA_CACHE_DIR);
  if (env.XDG_CACHE_HOME) return path.join(path.resolve(env.XDG_CACHE_HOME), 'tessera');
  return path.join(os.homedir(), '.cache', 'tessera');
}

export const PRECISION_CACHE_FILE = 'precision.json';

/** One cached auto decision. */
export interface CachedDecision {
  precision: Precision;
  package: string;
  packageSha256: string;
  cpu: string;
  device: string;
  threads: number;
  rows: number;
  fp32Ms: number;
  int8Ms: number;
  ratio: number;
  pairs: number;
  measuredAt: string;
}

interface CacheFile {
  version: 1;
  decisions: Record<string, CachedDecision>;
}

/** What a decision depends on: the key of its cache entry. */
export interface DecisionKey {
  cpu: string;
  device: string;
  threads: number;
  packageSha256: string;
  rows: number;
}

export function decisionKey(k: DecisionKey): string {
  return JSON.stringify([k.packageSha256, k.device, k.threads, k.rows, k.cpu]);
}

/** The cache's decisions; a missing or unreadable cache is empty (it is only a cache: the probe can run again). */
export function readDecisions(dir: string): Record<string, CachedDecision> {
  const file = path.join(dir, PRECISION_CACHE_FILE);
  if (!existsSync(file)) return {};
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<CacheFile>;
    return parsed.version === 1 && typeof parsed.decisions === 'object' && parsed.decisions !== null ? parsed.decisions : {};
  } catch {
    return {};
  }
}

/** Adds a decision (write to a temporary file, then rename: a reader never sees half a file). Returns an error message or null. */
export function writeDecision(dir: string, key: DecisionKey, decision: CachedDecision): string | null {
  try {
    mkdirSync(dir, { recursive: true });
    const decisions = { ...readDecisions(dir), [decisionKey(key)]: decision };
    const file = path.join(dir, PRECISION_CACHE_FILE);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, JSON.stringify({ version: 1, decisions } satisfies CacheFile, null, 2) + '\n');
    renameSync(temporary, file);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/** The cached decisions about one package (by its manifest's hash), for `tessera info`. */
export function decisionsFor(dir: string, packageSha256: string): CachedDecision[] {
  return Object.values(readDecisions(dir))
    .filter((d) => d.packageSha256 === packageSha256)
    .sort((a, b) => a.cpu.localeCompare(b.cpu) || a.device.localeCompare(b.device) || a.threads - b.threads || a.rows - b.rows);
}

/** sha256 of manifest.json: it lists every file's sha256, so it changes with any file of the package. */
export function packageSha256(dir: string): string {
  return createHash('sha256').update(readFileSync(path.join(dir, 'manifest.json'))).digest('hex');
}

/**
 * Times one run of `step` at `precision`, in ms. The default reads the wall clock; tests
 * inject a timer that runs the step and returns scripted times, so decisions are
 * deterministic and no test asserts on a real duration.
 */
export type StepTimer = (precision: Precision, step: () => Promise<unknown>) => Promise<number>;

export const wallClockTimer: StepTimer = async (_precision, step) => {
  const started = performance.now();
  await step();
  return performance.now() - started;
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The upper median: with an even count, the larger of the two middle values. Used for the
 * decision ratio so that a split vote goes to fp32: with 2 pairs (the budget's minimum)
 * both must show int8 past the margin, with 4 pairs three of them, so one pair disturbed in
 * int8's favour cannot pick int8 on a CPU where it does not pay (issue 27: auto within 3% of
 * fp32 without VNNI).
 */
function upperMedian(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

/**
 * One warm-up run of each, then up to `pairs` timed pairs (at least PROBE_MIN_PAIRS, then
 * until the timed steps reach `budgetMs`), alternating which goes first (ABBA:
 * a machine that speeds up or slows down during the probe favours neither). The decision
 * figure is the upper median of the per-pair ratios int8/fp32, which cancels noise the two
 * runs of a pair share and leans to fp32 when the pairs disagree.
 */
export async function measurePrecisions(
  steps: Record<Precision, () => Promise<unknown>>,
  rows: number,
  timer: StepTimer = wallClockTimer,
  pairs = PROBE_PAIRS,
  budgetMs = PROBE_BUDGET_MS,
): Promise<ProbeResult> {
  await steps.fp32();
  await steps.int8();
  const fp32: number[] = [];
  const int8: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      fp32.push(await timer('fp32', steps.fp32));
      int8.push(await timer('int8', steps.int8));
    } else {
      int8.push(await timer('int8', steps.int8));
      fp32.push(await timer('fp32', steps.fp32));
    }
    const spent = fp32.reduce((a, b) => a + b, 0) + int8.reduce((a, b) => a + b, 0);
    if (fp32.length >= PROBE_MIN_PAIRS && spent >= budgetMs) break;
  }
  const ratios = fp32.map((f, i) => int8[i] / Math.max(f, 1e-9));
  return { rows, fp32Ms: median(fp32), int8Ms: median(int8), ratio: upperMedian(ratios), pairs: fp32.length };
}

/** int8 only when it beat fp32 by the margin; a tie, or anything inside the margin, keeps fp32. */
export function decide(probe: ProbeResult, margin = INT8_MARGIN): Precision {
  return probe.ratio <= 1 - margin ? 'int8' : 'fp32';
}

export function describeProbe(probe: ProbeResult): string {
  return `int8 step ${probe.int8Ms.toFixed(2)} ms vs fp32 ${probe.fp32Ms.toFixed(2)} ms at ${probe.rows} rows (upper-median ratio ${probe.ratio.toFixed(3)} over ${probe.pairs} pairs; int8 needs <= ${(1 - INT8_MARGIN).toFixed(2)})`;
}
