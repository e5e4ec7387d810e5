/**
 * Issue 23: a request body shorter than its Content-Length no longer holds its socket for
 * Node's 300 s: request and header timeouts are set deliberately (serve flags), and the
 * late request is answered 408 request_timeout in the envelope before the socket closes.
 */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { resolveServerOptions } from '../../src/server/options.js';
import { testServer, type TestServer } from '../server/helpers.js';

let server: TestServer;
let port: number;
beforeAll(async () => {
  server = await testServer({ waitReady: true, requestTimeoutMs: 500, headersTimeoutMs: 400 });
  const address = await server.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(address).port);
});
afterAll(async () => server?.close());

/** Sends `raw` and reads until the server closes the socket (or 20 s pass: then the test fails on the empty answer). */
function exchange(raw: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(20_000, () => socket.destroy());
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => undefined);
    socket.write(raw);
  });
}

describe('HTTP timeouts', () => {
  it('a body shorter than its Content-Length is answered 408 request_timeout and the socket closed', async () => {
    const answer = await exchange('POST /v1/images/generations HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"prompt":');
    expect(answer.split(' ')[1]).toBe('408');
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code).toBe('request_timeout');
  }, 30_000);

  it('headers that never end are answered 408 too', async () => {
    const answer = await exchange('GET /healthz HTTP/1.1\r\nhost: x\r\n');
    expect(answer.split(' ')[1]).toBe('408');
  }, 30_000);

  it('defaults are deliberate, and headers may not outlast the request', async () => {
    const defaults = resolveServerOptions({});
    expect([defaults.requestTimeoutMs, defaults.headersTimeoutMs, defaults.keepAliveTimeoutMs]).toEqual([60_000, 20_000, 72_000]);
    expect(server.app.server.requestTimeout).toBe(500);
    expect(server.app.server.headersTimeout).toBe(400);
    expect(() => resolveServerOptions({ requestTimeoutMs: 1000, headersTimeoutMs: 2000 })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION' }));
    expect(() => resolveServerOptions({ requestTimeoutMs: 5 })).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_OPTION' }));
  });

  it('tessera serve takes them as flags and refuses bad values before listening', async () => {
    let stderr = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await main(['serve', '--request-timeout-ms', '1000', '--headers-timeout-ms', '2000', '--quiet'])).toBe(2);
      expect(stderr).toContain('[TESSERA_ERR_OPTION]');
      expect(stderr).toContain('--headers-timeout-ms');
      stderr = '';
      expect(await main(['serve', '--stall-ms', '5', '--quiet'])).toBe(2);
      expect(stderr).toContain('--stall-ms');
    } finally {
      process.stderr.write = write;
    }
  });
});
