/**
 * Request bookkeeping of the inference child's parent side: the requests sent to the child
 * and not yet answered, keyed by id, and the routing of the child's answers to them. Kept
 * apart from child-process.ts, which supervises the process itself (spawn, readiness,
 * heartbeat watchdog, restart with back-off): a crash there only needs `failAll` here.
 */
import { randomUUID } from 'node:crypto';
import { TesseraError, type ErrorCode } from '../errors.js';
import type { GenerationEvent, GenerationResult } from '../types.js';
import type { ChildMessage, ParentMessage } from './protocol.js';

export interface RunOptions {
  onEvent?: (event: GenerationEvent) => void;
  signal?: AbortSignal;
}

interface Pending {
  /** One result for 'generate', the group's results for 'generate-group', a vector for 'embed'. */
  resolve: (result: GenerationResult | GenerationResult[] | Float32Array) => void;
  reject: (error: Error) => void;
  onEvent?: (event: GenerationEvent) => void;
}

/** The child's answers to requests (everything but its lifecycle messages: ready, load-error, heartbeat). */
export type AnswerMessage = Exclude<ChildMessage, { type: 'ready' | 'load-error' | 'heartbeat' }>;

export class PendingRequests {
  private pending = new Map<string, Pending>();

  /** Requests sent and not yet answered. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Sends one generation message through `post` and resolves with the child's answer;
   * an abort of `options.signal` asks the child to cancel it.
   */
  generate(post: (message: ParentMessage) => void, message: (id: string) => ParentMessage, options: RunOptions): Promise<GenerationResult | GenerationResult[]> {
    const id = randomUUID();
    return new Promise<GenerationResult | GenerationResult[]>((resolve, reject) => {
      const onAbort = () => post({ type: 'cancel', id, reason: String(options.signal?.reason ?? 'cancelled') });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const done = () => options.signal?.removeEventListener('abort', onAbort);
      this.pending.set(id, {
        onEvent: options.onEvent,
        resolve: (r) => {
          done();
          resolve(r as GenerationResult);
        },
        reject: (e) => {
          done();
          reject(e);
        },
      });
      post(message(id));
    });
  }

  /** Sends a text-embedding request through `post` and resolves with the vector. */
  embedText(post: (message: ParentMessage) => void, text: string): Promise<Float32Array> {
    const id = randomUUID();
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve: (v) => resolve(v as Float32Array), reject });
      post({ type: 'embed-text', id, text });
    });
  }

  /** Routes one answer of the child to its request; `redact` cleans the child's error messages. */
  answer(message: AnswerMessage, redact: (message: string) => string): void {
    if (message.type === 'event') {
      this.pending.get(message.id)?.onEvent?.(message.event);
    } else if (message.type === 'result' || message.type === 'results' || message.type === 'embedding') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      pending?.resolve(message.type === 'result' ? message.result : message.type === 'results' ? message.results : message.embedding);
    } else if (message.type === 'error') {
      const pending = this.pending.get(message.id);
      this.pending.delete(message.id);
      pending?.reject(new TesseraError(message.code as ErrorCode, redact(message.message), { param: message.param }));
    }
  }

  /** Fails every request in flight with `error` (the child that held them is gone). */
  failAll(error: Error): void {
    for (const [id, pending] of this.pending) {
      this.pending.delete(id);
      pending.reject(error);
    }
  }
}
