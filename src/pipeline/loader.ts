import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VQ_SESSION, VqCodec } from '../vq/vq-codec.js';
import { TesseraError } from '../errors.js';
import type { Device } from '../types.js';
import { checkClipDir, ClipReranker } from '../rerank/clip-reranker.js';
import { architectureOf, firstStepReadsInt8Cache, warmFirstCache } from '../generator/architectures.js';
import type { ImageTokenGenerator } from '../generator/generator.js';
import { BatchSampler } from '../sampler/sampler.js';
import { TextTokenizer } from '../text/tokenizer.js';
import { readManifest, type ModelManifest } from '../model/manifest.js';
import { verifyPackageFiles } from '../model/verified-files.js';
import { checkDevice, createSession, kernelOptions } from '../model/runtime.js';
import { VQ_LANE_MIN_PIXELS, VqLanes } from '../vq/vq-lanes.js';
import { rememberVerifications, VerifiedFiles } from '../model/verified-files.js';
import { cacheDir, graphsFor, parsePrecision, type Precision, type PrecisionChoice, type PrecisionReport } from '../model/precision.js';
import { LANE_SESSION, laneRows, lanesFor, laneStepBytes, SamplingLanes, stepGraphBytes } from './lanes.js';
import { defaultRows, selectPrecision, type ProbeOptions } from './precision.js';

/** The embedded default model package, shipped in the repository's models/ folder. */
export const DEFAULT_MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../models/default');

export interface LoadOptions {
  /** Model package folder; the embedded default when omitted. */
  model?: string;
  device?: Device;
  /** Load CLIP for reranking (default true when the package has one, or `clip` is given). */
  rerank?: boolean;
  /** A CLIP folder in transformers.js's layout, used instead of the package's own (`--clip`). */
  clip?: string;
  /** Hash every file against the manifest (default true). */
  verify?: boolean;
  /** Which graphs run: the package's own (fp32), its int8 variant, or auto (measured, cached; default). */
  precision?: PrecisionChoice;
  /** Rows the run's steps will hold, for auto's probe (bucketed to a power of two); default: the manifest's candidates x guidance twins. */
  precisionRows?: number | ((manifest: ModelManifest) => number);
  /**
   * Rows the first request samples at once (a one-shot run's): its KV cache's memory is
   * mapped on another thread while the stages load (kv-buffers.ts' warmBuffers); with
   * lanes, each lane maps its own part's.
   */
  firstRows?: number | ((manifest: ModelManifest) => number);
  /** Auto's probe seams: timer, cache folder, CPU key (tests). */
  probe?: ProbeOptions;
  /**
   * Sampling lanes (src/pipeline/lanes.ts): a row group's parts sampled at once, each on
   * its own thread with one-thread generator sessions. Default 1 (none); 'auto' (the CLI's
   * generate and batch) is lanesFor's choice for the package. Only on the CPU.
   */
  lanes?: number | 'auto';
  /** The step-graph bytes above which 'auto' starts no lanes (default LANE_WEIGHT_LIMIT; tests' seam). */
  laneWeightLimit?: number;
}

/** Every stage of a loaded package, ready to run. */
export interface LoadedModel {
  dir: string;
  manifest: ModelManifest;
  device: Device;
  tokenizer: TextTokenizer;
  generator: ImageTokenGenerator;
  sampler: BatchSampler;
  /** The VQ image tokenizer: grids <-> pixels (the manifest's `decoder` and `encoder` graphs). */
  vq: VqCodec;
  reranker: ClipReranker | null;
  /** The precision that runs, and why (src/model/precision.ts). */
  precision: PrecisionReport;
  /** The worker lanes beside `sampler` (null: it samples alone). */
  lanes: SamplingLanes | null;
}

export async function loadModel(options: LoadOptions = {}): Promise<LoadedModel> {
  const dir = path.resolve(options.model ?? DEFAULT_MODEL_DIR);
  const device = options.device ?? 'cpu';
  checkDevice(device);
  // A mistaken --clip fails before anything heavy loads (even with reranking off: it is still a mistake).
  const clipOverride = options.clip === undefined ? null : path.resolve(options.clip);
  if (clipOverride !== null) checkClipDir(clipOverride, 'TESSERA_ERR_OPTION', 'clip');
  const requested = parsePrecision(options.precision);
  const manifest = readManifest(dir);
  const lanesAsked = options.lanes === 'auto' ? lanesFor(device, laneStepBytes(dir, manifest, requested), process.env, options.laneWeightLimit) : (options.lanes ?? 1);
  // The worker lanes start now: their threads load their modules while this one verifies and opens.
  const laning = device === 'cpu' && lanesAsked > 1;
  // The first request's KV cache is mapped on another thread while this one loads; with lanes, each
  // lane maps its first part's (laneParts keeps a guided pair's rows together: one row to spare).
  const firstRows = typeof options.firstRows === 'function' ? options.firstRows(manifest) : options.firstRows;
  const perLane = firstRows === undefined || !laning ? firstRows : laneRows(firstRows, lanesAsked) + 1;
  // Which kind of cache to map is asked of the step graph's file once, here, for every lane.
  const int8Cache = perLane !== undefined && device === 'cpu' && firstStepReadsInt8Cache(manifest, dir, requested);
  const lanes = laning ? SamplingLanes.start({ dir, device, int8Cache, ...(perLane === undefined ? {} : { firstRows: perLane }) }, lanesAsked) : null;
  const warmed = warmFirstCache(manifest, device, perLane, int8Cache);
  const vqLanesStarted: VqLanes[] = []; // closed here when loading fails
  try {
    const loaded = await loadStages(dir, manifest, device, requested, clipOverride, lanes, options, vqLanesStarted);
    await warmed; // its blocks are this thread's spare: the first cache takes them
    return loaded;
  } catch (error) {
    await Promise.all([lanes?.close(), ...vqLanesStarted.map((started) => started.close())]);
    throw error;
  }
}

/** Whether a load decodes in VQ lanes: the CLI's one-shot runs (lanes 'auto') on the CPU with two threads or more, images of VQ_LANE_MIN_PIXELS or more, a decoder that takes codes (not Janus's). */
function vqLanesWanted(manifest: ModelManifest, device: Device, options: LoadOptions): boolean {
  return options.lanes === 'auto' && device === 'cpu' && kernelOptions().intraOpNumThreads > 1 && manifest.image.size ** 2 >= VQ_LANE_MIN_PIXELS && manifest.architecture !== 'janus';
}

/** loadModel's stages after its checks, beside the started lanes (closed by the caller when this fails, as are the VQ lanes this starts: `vqLanesStarted`). */
async function loadStages(dir: string, manifest: ModelManifest, device: Device, requested: PrecisionChoice, clipOverride: string | null, startedLanes: SamplingLanes | null, options: LoadOptions, vqLanesStarted: VqLanes[]): Promise<LoadedModel> {
  let lanes = startedLanes; // null again when auto keeps a graph too big for lanes
  // Files verified before and unchanged since are not hashed again (verified-files.ts).
  if (options.verify !== false) await verifyPackageFiles(dir, manifest, rememberVerifications() ? new VerifiedFiles(options.probe?.cacheDir ?? cacheDir()) : undefined);
  const file = (relative: string) => path.join(dir, relative);
  const tokenizer = TextTokenizer.fromFile(file(manifest.text.tokenizer), manifest);
  const runRows = typeof options.precisionRows === 'function' ? options.precisionRows(manifest) : options.precisionRows;
  // A lane steps its share of the rows: auto probes at that.
  const rows = lanes === null ? runRows : laneRows(runRows ?? defaultRows(manifest), lanes.count);
  // With lanes, every lane's generator (this thread's too) runs its sessions as LANE_SESSION says.
  const tuning = lanes !== null ? LANE_SESSION : {};
  // Whether the started lanes stay for a precision: 'auto' lanes go when that precision's step graph is over the limit.
  const keepsLanes = (p: Precision) => lanes === null || options.lanes !== 'auto' || lanesFor(device, stepGraphBytes(dir, manifest, p), process.env, options.laneWeightLimit) > 1;
  // One-shot runs (lanes 'auto') of a package with large images decode them in lanes (vq-lanes.ts), whose threads
  // load while this one does: started now when the precision is known, else once it is chosen.
  const startVqLanes = (decoder: string) => {
    if (!vqLanesWanted(manifest, device, options)) return null;
    const started = VqLanes.start({ graph: file(decoder), ...manifest.image.grid, size: manifest.image.size }, kernelOptions().intraOpNumThreads);
    vqLanesStarted.push(started);
    return started;
  };
  const early = requested === 'auto' ? null : startVqLanes(graphsFor(manifest, requested).decoder);
  const selected = await selectPrecision({
    dir,
    manifest,
    device,
    requested,
    rows,
    probe: options.probe,
    threads: lanes !== null ? LANE_SESSION.intraOpNumThreads : undefined,
    // A generator opened only to run gets the lanes' tuning only when its graph keeps them; the probe's two get it
    // both (they are timed as a lane would run them).
    open: (p: Precision, probing: boolean) => architectureOf(manifest).load(manifest, file, device, graphsFor(manifest, p), probing || keepsLanes(p) ? tuning : {}),
  });
  const precision = selected.report;
  let opened = selected.opened;
  // Lanes started for auto's int8 graph, and auto kept an fp32 graph too big for lanes: they go, and a generator
  // the probe opened with one thread opens again with the default threads (a cached decision opened it so at once).
  if (lanes !== null && !keepsLanes(precision.precision)) {
    const probed = precision.reason === 'measured';
    await Promise.all([lanes.close(), probed ? opened.release() : undefined]);
    lanes = null;
    if (probed) opened = await architectureOf(manifest).load(manifest, file, device, graphsFor(manifest, precision.precision), {});
  }
  const generator = opened.generator;
  // The worker lanes open their sessions while the VQ codec and CLIP load here.
  const lanesOpen = lanes?.open(precision.precision);
  lanesOpen?.catch(() => undefined); // awaited below
  const graphs = graphsFor(manifest, precision.precision);
  const encoderFile = manifest.encoder;
  const loadEncoder = encoderFile === null ? null : () => createSession(file(encoderFile), device, undefined, VQ_SESSION);
  const vqDecoderGraph = await createSession(file(graphs.decoder), device, undefined, VQ_SESSION);
  const vq = new VqCodec(manifest, vqDecoderGraph, loadEncoder);
  const vqLanes = requested === 'auto' ? startVqLanes(graphs.decoder) : early; // a forced precision's decoder is this one
  if (vqLanes !== null) vq.useLanes(vqLanes);
  let reranker: ClipReranker | null = null;
  if (options.rerank !== false && clipOverride !== null) {
    reranker = await ClipReranker.load(clipOverride, device);
  } else if (options.rerank !== false && graphs.clip !== null) {
    const clipDir = file(graphs.clip);
    if (!existsSync(clipDir)) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `model package ${dir}: ${graphs.clip}/ is missing`, { param: 'model' });
    }
    checkClipDir(clipDir, 'TESSERA_ERR_MODEL_FILE', 'model');
    // A precision's own vision graph (variants.int8.clipVision) runs only with the package's CLIP, never with --clip's.
    const visionGraph = graphs.clipVision === null ? undefined : path.relative(clipDir, file(graphs.clipVision)).split(path.sep).join('/');
    reranker = await ClipReranker.load(clipDir, device, { visionGraph });
  }
  await lanesOpen;
  await vqLanes?.ready; // opened before the first request, not during its sampling
  return {
    dir,
    manifest,
    device,
    tokenizer,
    generator,
    sampler: new BatchSampler(generator),
    vq,
    reranker,
    precision,
    lanes,
  };
}
