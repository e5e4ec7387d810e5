/**
 * Issue 15, defect 6: a subscriber that never reads does not make the server hold the whole
 * event stream. Previews and progress coalesce to the newest while the socket is behind;
 * events that matter (result, error) are never dropped and keep their order; a client
 * whose backlog passes the hard bound is cut off.
 */
import { EventEmitter } from 'node:events';
import type { FastifyReply } from 'fastify';
import { describe, expect, it } from 'vitest';
import { openSse, SSE_HIGH_WATER, SSE_MAX_BUFFERED } from '../../src/server/sse.js';

/** A response whose client never reads: every byte written stays buffered until drain(). */
class StalledResponse extends EventEmitter {
  writableLength = 0;
  frames: string[] = [];
  destroyed = false;
  ended = false;
  writeHead(): this {
    return this;
  }
  write(chunk: string): boolean {
    this.frames.push(chunk);
    this.writableLength += Buffer.byteLength(chunk);
    return this.writableLength <= 16 * 1024;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  /** The client catches up. */
  drain(): void {
    this.writableLength = 0;
    this.emit('drain');
  }
}

function stalled(): { sse: ReturnType<typeof openSse>; raw: StalledResponse } {
  const raw = new StalledResponse();
  const reply = { raw, hijack: () => undefined, getHeaders: () => ({}) } as unknown as FastifyReply;
  return { sse: openSse(reply), raw };
}

const preview = (step: number) => ({ type: 'preview', step, images: ['x'.repeat(20_000)] });

describe('SSE backpressure', () => {
  it('holds at most one preview per key while the client is behind, then sends the newest', () => {
    const { sse, raw } = stalled();
    for (let step = 1; step <= 500; step++) {
      sse.send(preview(step), 'preview', { coalesce: 'preview' });
      sse.send({ type: 'progress', step }, 'progress', { coalesce: 'progress' });
    }
    // Without coalescing this would be 500 previews, 10 MB; with it the buffer stops near the high-water mark.
    expect(raw.writableLength).toBeLessThan(SSE_HIGH_WATER + 2 * 21_000);
    expect(sse.coalesced).toBeGreaterThan(900);
    raw.frames = [];
    raw.drain();
    const sent = raw.frames.join('');
    expect(sent).toContain('"step":500');
    expect(sent.match(/event: preview/g)).toHaveLength(1);
  });

  it('never drops the result, and sends held events before it, in order', () => {
    const { sse, raw } = stalled();
    for (let step = 1; step <= 50; step++) sse.send(preview(step), 'preview', { coalesce: 'preview' });
    raw.frames = [];
    sse.send({ type: 'result', ok: true }, 'result');
    const sent = raw.frames.join('');
    expect(sent.indexOf('event: preview')).toBeGreaterThanOrEqual(0);
    expect(sent.indexOf('event: preview')).toBeLessThan(sent.indexOf('event: result'));
    expect(sent).toContain('"step":50');
  });

  it('cuts off a client whose backlog of undroppable events passes the hard bound', () => {
    const { sse, raw } = stalled();
    let disconnected = false;
    sse.onDisconnect(() => (disconnected = true));
    const big = 'y'.repeat(1024 * 1024);
    for (let i = 0; i < 20 && !sse.closed; i++) sse.send({ type: 'queued', big }, 'queued');
    expect(raw.destroyed).toBe(true);
    expect(disconnected).toBe(true);
    expect(raw.writableLength).toBeLessThan(SSE_MAX_BUFFERED + 2 * 1024 * 1024);
  });
});
