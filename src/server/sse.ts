/** A minimal Server-Sent Events writer over a hijacked fastify reply. */
import type { FastifyReply } from 'fastify';

export interface SseStream {
  send(data: unknown, event?: string): void;
  close(): void;
  readonly closed: boolean;
  /** Runs once when the client goes away before close() (a disconnect). */
  onDisconnect(listener: () => void): void;
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
  const listeners: (() => void)[] = [];
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  heartbeat.unref();
  raw.on('close', () => {
    clearInterval(heartbeat);
    if (!closed) {
      closed = true;
      for (const l of listeners) l();
    }
  });
  return {
    send(data, event) {
      if (closed) return;
      raw.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      raw.end();
    },
    get closed() {
      return closed;
    },
    onDisconnect(listener) {
      listeners.push(listener);
    },
  };
}
