/**
 * The loader's precision decision (src/model/precision.ts has the rules, the cache and the
 * measurement): forced, no variant, cached, or measured now by timing one generator step of
 * each precision through the generator seam.
 */
import { emptyStats, type ImageTokenGenerator, type OpenedGenerator } from '../generator/generator.js';
import type { ModelManifest } from '../model/manifest.js';
import { kernelOptions } from '../model/runtime.js';
import {
  cacheDir,
  cpuKey,
  decide,
  decisionKey,
  describeProbe,
  measurePrecisions,
  noVariant,
  packageSha256,
  readDecisions,
  rowBucket,
  wallClockTimer,
  writeDecision,
  type Precision,
  type PrecisionChoice,
  type PrecisionReport,
  type StepTimer,
} from '../model/precision.js';
import type { Device } from '../types.js';

/** How auto probes (all optional; tests inject the timer, the cache folder and the CPU). */
export interface ProbeOptions {
  /** Times one step; default the wall clock. */
  timer?: StepTimer;
  /** Where decisions are cached; default cacheDir() ($TESSERA_CACHE_DIR, $XDG_CACHE_HOME/tessera, ~/.cache/tessera). */
  cacheDir?: string;
  /** This CPU's key; default cpuKey() (model name + flags hash). */
  cpu?: string;
  /** Timed pairs (default PROBE_PAIRS). */
  pairs?: number;
}

// A generator with the sessions behind it (released when the probe's loser is dropped): the seam's own type.
export type { OpenedGenerator };

/** Rows one step of a run holds by default: the manifest's candidates, doubled by guidance's unconditional twins. */
export function defaultRows(manifest: ModelManifest): number {
  return manifest.sampling.candidates * (manifest.sampling.guidanceScale !== 1 ? 2 : 1);
}

/**
 * A step of each generator over `rows` rows, ready to run repeatedly: one prefill of the
 * unconditional text written into every row, then each run feeds code 0 at the middle image
 * position (the attention length of an average step over a whole image). The generators are
 * two precisions of one package (the same class and cache layout), so they share ONE cache:
 * at 512 rows of the shipped model a cache is 0.5 GB, and allocating it dominated the probe.
 */
export async function probeSteps<P extends string>(generators: Record<P, ImageTokenGenerator>, unconditionalIds: readonly number[], rows: number): Promise<{ steps: Record<P, () => Promise<unknown>>; release: () => void }> {
  const all = Object.values(generators) as ImageTokenGenerator[];
  const first = all[0];
  const batch = await first.prefill([unconditionalIds]);
  const filled = (generator: ImageTokenGenerator) => {
    const cache = generator.allocate(rows);
    for (let r = 0; r < rows; r++) generator.writePrefix(cache, r, batch, 0);
    return cache;
  };
  const cache = filled(first);
  // An int8 variant whose step reads an int8 cache (scripts/perf/kv8_variant.py: Int8KvSlots)
  // cannot share the float cache: such a generator gets its own, with the same prefix.
  const own = new Map(all.filter((g) => g !== first && !sameCacheLayout(first, g)).map((g) => [g, filled(g)] as const));
  const codes = new Int32Array(rows); // [rows]
  const positions = new Int32Array(rows).fill(Math.floor(first.imageTokens / 2)); // [rows]
  const entries = Object.entries(generators) as [P, ImageTokenGenerator][];
  const steps = Object.fromEntries(entries.map(([name, generator]) => [name, () => generator.step(own.get(generator) ?? cache, codes, positions)])) as Record<P, () => Promise<unknown>>;
  // Released, its memory is the next cache's (kv-buffers.ts): the request's, of the same rows.
  return {
    steps,
    release: () => {
      for (const c of own.values()) c.release?.();
      cache.release?.();
    },
  };
}

/**
 * Whether two generators keep their rows in the same kind of cache: a one-row cache of each,
 * compared by class (the self-attention slots where the cache wraps them). Not released: a
 * release would make its tiny blocks this thread's spare in place of a warmed one (kv-buffers.ts).
 */
function sameCacheLayout(a: ImageTokenGenerator, b: ImageTokenGenerator): boolean {
  const kind = (generator: ImageTokenGenerator) => {
    const cache = generator.allocate(1) as { self?: object };
    return (cache.self ?? cache).constructor;
  };
  return kind(a) === kind(b);
}

export interface SelectArgs {
  dir: string;
  manifest: ModelManifest;
  device: Device;
  requested: PrecisionChoice;
  /** Rows of the run's steps (bucketed); default defaultRows(manifest). */
  rows?: number;
  probe?: ProbeOptions;
  /** Intra-op threads of the generator's sessions, when not TESSERA_THREADS' (a lane's one: lanes.ts); part of the cached decision's key. */
  threads?: number;
  /** Opens the generator graphs of a precision; `probing`: opened for the timed probe (both precisions), not only to run. */
  open(precision: Precision, probing: boolean): Promise<OpenedGenerator>;
}

/** Decides the precision and opens its generator (for a measured decision, both open, and the loser is released). */
export async function selectPrecision(args: SelectArgs): Promise<{ report: PrecisionReport; opened: OpenedGenerator }> {
  const { manifest, requested } = args;
  const hasInt8 = manifest.variants?.int8 !== undefined;
  if (requested !== 'auto') {
    if (requested === 'int8' && !hasInt8) throw noVariant(manifest, 'int8');
    return { report: { requested, precision: requested, reason: 'forced', detail: `${requested} asked for` }, opened: await args.open(requested, false) };
  }
  if (!hasInt8) {
    return { report: { requested, precision: 'fp32', reason: 'no-variant', detail: 'package has no int8 variant' }, opened: await args.open('fp32', false) };
  }
  // The int8 variant is for the CPU's integer units: on WebGPU its MatMulInteger has no
  // kernel and falls back to the CPU, with copies each way per product (issue 29,
  // bench/webgpu/placement.ts), so auto keeps the graphs that stay on the device.
  if (args.device === 'webgpu') {
    return { report: { requested, precision: 'fp32', reason: 'device', detail: 'int8 products have no WebGPU kernel (they would run on the CPU)' }, opened: await args.open('fp32', false) };
  }
  const rows = rowBucket(args.rows ?? defaultRows(manifest));
  const dir = args.probe?.cacheDir ?? cacheDir();
  const key = { cpu: args.probe?.cpu ?? cpuKey(), device: args.device, threads: args.threads ?? kernelOptions().intraOpNumThreads, packageSha256: packageSha256(args.dir), rows };
  const cached = readDecisions(dir)[decisionKey(key)];
  if (cached !== undefined && (cached.precision === 'fp32' || cached.precision === 'int8')) {
    const probe = { rows, fp32Ms: cached.fp32Ms, int8Ms: cached.int8Ms, ratio: cached.ratio, pairs: cached.pairs };
    return {
      report: { requested, precision: cached.precision, reason: 'cached', detail: `measured ${cached.measuredAt} on this CPU: ${describeProbe(probe)}`, probe },
      opened: await args.open(cached.precision, false),
    };
  }
  const fp32 = await args.open('fp32', true);
  const int8 = await args.open('int8', true);
  let probe;
  try {
    const { steps, release } = await probeSteps({ fp32: fp32.generator, int8: int8.generator }, manifest.text.unconditionalIds, rows);
    try {
      probe = await measurePrecisions(steps, rows, args.probe?.timer ?? wallClockTimer, args.probe?.pairs);
    } finally {
      release();
    }
  } catch (error) {
    await Promise.all([fp32.release(), int8.release()]);
    throw error;
  }
  const precision = decide(probe);
  const [kept, dropped] = precision === 'int8' ? [int8, fp32] : [fp32, int8];
  await dropped.release();
  // The probe's steps are no part of any request's figures.
  Object.assign(kept.generator.stats, emptyStats());
  const problem = writeDecision(dir, key, {
    precision,
    package: manifest.name,
    packageSha256: key.packageSha256,
    cpu: key.cpu,
    device: key.device,
    threads: key.threads,
    rows,
    fp32Ms: probe.fp32Ms,
    int8Ms: probe.int8Ms,
    ratio: probe.ratio,
    pairs: probe.pairs,
    measuredAt: new Date().toISOString(),
  });
  const detail = `measured now: ${describeProbe(probe)}${problem === null ? '' : ` (not cached: ${problem})`}`;
  return { report: { requested, precision, reason: 'measured', detail, probe }, opened: kept };
}
