/** Messages between the HTTP process and its inference child (advanced IPC serialization: typed arrays pass as-is). */
import type { Device, GenerateRequest, GenerationEvent, GenerationResult } from '../../pipeline/types.js';

export interface WorkerConfig {
  model: string;
  device: Device;
  /** Tests only: sleep this long after every sampling step (makes "kill it mid-request" deterministic). */
  stepDelayMs?: number;
  /** Most rows one shared step may run when admitting another request (default 512). */
  maxRows?: number;
  /** How often the child reports that its event loop is alive (ms; the parent's watchdog listens). */
  heartbeatMs?: number;
}

export type ParentMessage =
  | { type: 'generate'; id: string; request: GenerateRequest }
  | { type: 'cancel'; id: string; reason: string }
  | { type: 'shutdown' };

export type ChildMessage =
  | { type: 'ready'; model: string; pid: number }
  | { type: 'heartbeat' }
  | { type: 'load-error'; code: string; message: string }
  | { type: 'event'; id: string; event: GenerationEvent }
  | { type: 'result'; id: string; result: GenerationResult }
  | { type: 'error'; id: string; code: string; message: string; param?: string };

export const WORKER_CONFIG_ENV = 'TESSERA_WORKER_CONFIG';
