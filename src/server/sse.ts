/**
 * A minimal Server-Sent Events writer over a hijacked fastify reply, with backpressure.
 *
 * A subscriber that reads slowly (or never) must not make the server hold the whole event
 * stream. While the socket's buffer is above HIGH_WATER, events sent with a `coalesce` key
 * (previews, progress: only the newest matters) are not written: each key keeps only its
 * latest unsent event, flushed in order when the socket drains or before the next event
 * that cannot be dropped. Events without a key (queued, started, result, error) are always
 * written; a client whose backlog still passes MAX_BUFFERED is disconnected.
 */
import type { FastifyReply } from 'fastify';

/** Bytes queued on the socket above which droppable events are held back (coalesced). */
export const SSE_HIGH_WATER = 64 * 1024;
/** Bytes queued on the socket above which the subscriber is cut off (it is not reading). */
export const SSE_MAX_BUFFERED = 8 * 1024 * 1024;

export interface SendOptions {
  /** Events with the same key replace each other while the client is behind (only the newest is sent). */
  coalesce?: string;
}

export interface SseStream {
  send(data: unknown, event?: string, options?: SendOptions): void;
  close(): void;
  readonly closed: boolean;
  /** Runs once when the client goes away before close() (a disconnect, or cut off for not reading). */
  onDisconnect(listener: () => void): void;
  /** Events held back or replaced because the client was behind (for tests and metrics). */
  readonly coalesced: number;
}

export function openSse(reply: FastifyReply): SseStream {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...(reply.getHeaders() as Record<string, string>),
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(': tessera\n\n');
  let closed = false;
  let coalesced = 0;
  const held = new Map<string, string>();
  const listeners: (() => void)[] = [];
  const behind = () => raw.writableLength > SSE_HIGH_WATER;
  const write = (frame: string) => {
    raw.write(frame);
    if (raw.writableLength > SSE_MAX_BUFFERED) raw.destroy(); // 'close' runs the disconnect listeners
  };
  const flush = () => {
    for (const [key, frame] of held) {
      if (closed || behind()) return;
      held.delete(key);
      write(frame);
    }
  };
  const heartbeat = setInterval(() => {
    if (!behind()) raw.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();
  raw.on('drain', flush);
  raw.on('close', () => {
    clearInterval(heartbeat);
    held.clear();
    if (!closed) {
      closed = true;
      for (const l of listeners) l();
    }
  });
  return {
    send(data, event, options = {}) {
      if (closed) return;
      const frame = `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
      if (options.coalesce !== undefined) {
        if (held.size > 0 || behind()) {
          if (held.has(options.coalesce)) coalesced += 1;
          held.delete(options.coalesce); // re-insert: order follows the newest event of each key
          held.set(options.coalesce, frame);
          return;
        }
        write(frame);
        return;
      }
      // Events that cannot be dropped keep their order after what is held back.
      for (const [key, heldFrame] of held) {
        held.delete(key);
        write(heldFrame);
      }
      write(frame);
    },
    close() {
      if (closed) return;
      for (const frame of held.values()) raw.write(frame);
      held.clear();
      closed = true;
      clearInterval(heartbeat);
      raw.end();
    },
    get closed() {
      return closed;
    },
    get coalesced() {
      return coalesced;
    },
    onDisconnect(listener) {
      listeners.push(listener);
    },
  };
}
