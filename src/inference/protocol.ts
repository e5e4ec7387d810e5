/** Messages between the HTTP process and its inference child (advanced IPC serialization: typed arrays pass as-is). */
import type { ResolvedRequest } from '../pipeline/settings.js';
import type { FootprintSettings } from '../footprint/report.js';
import type { Device, GenerateRequest, GenerationEvent, GenerationResult, PrecisionChoice } from '../types.js';

/**
 * Rows one step may run when several requests share it (a single larger request still
 * runs alone): `serve --max-batch-rows`, `worker --max-batch-rows`, their one default.
 */
export const DEFAULT_MAX_ROWS = 512;

/** What the parent (InferenceChild) sends its inference child at launch, in CHILD_CONFIG_ENV. */
export interface ChildLaunchConfig {
  model: string;
  device: Device;
  /** Which graphs run (default auto, probed at maxRows rows). */
  precision?: PrecisionChoice;
  /** CLIP folder used instead of the package's own (`--clip`). */
  clip?: string;
  /** Most rows one shared step may run when admitting another request (default DEFAULT_MAX_ROWS). */
  maxRows?: number;
  /** How often the child reports that its event loop is alive (ms; the parent's watchdog listens). */
  heartbeatMs?: number;
  /** How each generation's footprint is measured (default: DEFAULT_GRID, RAPL or CPU time). */
  footprint?: FootprintSettings;
}

/**
 * Test seam, read only by the child from its environment (inherited from the server's):
 * sleep this many ms after every sampling step, so "kill it mid-request" or "cancel while
 * sharing steps" is deterministic. Not part of any public option type.
 */
export const STEP_DELAY_ENV = 'TESSERA_TEST_STEP_DELAY_MS';

/** The child's view of its configuration: what the parent sent plus the test seam. */
export interface ChildConfig extends ChildLaunchConfig {
  stepDelayMs?: number;
}

export function readChildConfig(env: NodeJS.ProcessEnv = process.env): ChildConfig {
  const config = JSON.parse(env[CHILD_CONFIG_ENV] ?? '{}') as ChildLaunchConfig;
  const delay = Number(env[STEP_DELAY_ENV] ?? '');
  return Number.isFinite(delay) && delay > 0 ? { ...config, stepDelayMs: delay } : config;
}

export type ParentMessage =
  /** A request the HTTP process already resolved (ResolvedRequest), or a raw one to resolve here. */
  | { type: 'generate'; id: string; request: GenerateRequest | ResolvedRequest }
  /**
   * Several requests sampled as ONE group (their rows admitted together, finished together):
   * a planned batch of `tessera batch` run by a queue worker (src/queue/worker.ts).
   */
  | { type: 'generate-group'; id: string; requests: (GenerateRequest | ResolvedRequest)[] }
  | { type: 'cancel'; id: string; reason: string }
  /** The CLIP text embedding of `text` (a search query), from the child's loaded CLIP. */
  | { type: 'embed-text'; id: string; text: string }
  | { type: 'shutdown' };

export type ChildMessage =
  | { type: 'ready'; model: string; pid: number }
  | { type: 'heartbeat' }
  | { type: 'load-error'; code: string; message: string }
  | { type: 'event'; id: string; event: GenerationEvent }
  | { type: 'result'; id: string; result: GenerationResult }
  /** The results of a 'generate-group', in request order. */
  | { type: 'results'; id: string; results: GenerationResult[] }
  | { type: 'embedding'; id: string; embedding: Float32Array }
  | { type: 'error'; id: string; code: string; message: string; param?: string };

export const CHILD_CONFIG_ENV = 'TESSERA_CHILD_CONFIG';
