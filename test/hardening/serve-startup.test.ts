/**
 * Issue 15, defects 2 and 4: `tessera serve` fails fast on a startup error (port in use,
 * broken model package) with a one-line coded error, exits non-zero by itself and leaves
 * no inference child behind; a broken package is not respawned forever and no machine
 * path reaches an HTTP response.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testServer, TINY_MODEL, waitFor } from '../server/helpers.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const scratch = mkdtempSync(path.join(os.tmpdir(), 'tessera-startup-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs `tessera serve` as a real process; kills it after `limitMs` if it has not exited by itself. */
function serve(args: string[], limitMs = 90_000): Promise<{ code: number | null; killed: boolean; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', '--quiet', '--data', path.join(scratch, 'data'), ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let killed = false;
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, limitMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, stderr });
    });
  });
}

/** Processes whose environment mentions `marker` (an inference child's config names its model folder). */
function processesMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/environ`).toString().includes(marker)) pids.push(Number(entry));
    } catch {
      // gone or not ours
    }
  }
  return pids;
}

function onePlainLine(stderr: string, code: string): void {
  expect(stderr).toContain(`tessera: error [${code}]: `);
  expect(stderr).not.toMatch(/^\s+at /m); // no stack trace
}

describe('tessera serve startup failures', () => {
  it('a port already in use: one coded line, exit 1 by itself, no orphan child', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    const model = path.join(scratch, 'model-port');
    symlinkSync(TINY_MODEL, model);
    try {
      const result = await serve(['--port', String(port), '--model', model]);
      expect(result.killed, result.stderr).toBe(false);
      expect(result.code).toBe(1);
      onePlainLine(result.stderr, 'TESSERA_ERR_LISTEN');
      expect(result.stderr).toContain('already in use');
      if (existsSync('/proc/self/environ')) expect(processesMentioning(model)).toEqual([]);
    } finally {
      blocker.close();
    }
  });

  it('a corrupt model package: one coded line naming the file, exit 1 by itself', async () => {
    const model = path.join(scratch, 'broken-cli');
    cpSync(TINY_MODEL, model, { recursive: true });
    appendFileSync(path.join(model, 'vae/decoder.onnx'), 'x');
    const result = await serve(['--port', '0', '--model', model]);
    expect(result.killed, result.stderr).toBe(false);
    expect(result.code).toBe(1);
    onePlainLine(result.stderr, 'TESSERA_ERR_MODEL_FILE');
    expect(result.stderr).toContain('vae/decoder.onnx');
    if (existsSync('/proc/self/environ')) expect(processesMentioning(model)).toEqual([]);
  });

  it('an unusable data folder: one coded line naming --data', async () => {
    const file = path.join(scratch, 'a-file');
    appendFileSync(file, 'x');
    const child = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'serve', '--quiet', '--port', '0', '--data', path.join(file, 'data')], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      p.on('exit', (code) => resolve({ code, stderr }));
    });
    expect(child.code).toBe(1);
    onePlainLine(child.stderr, 'TESSERA_ERR_OUTPUT');
  });
});

describe('a broken model package behind the HTTP API', () => {
  it('is not respawned, and neither errors nor /readyz reveal its path', async () => {
    const model = path.join(scratch, 'broken-api');
    cpSync(TINY_MODEL, model, { recursive: true });
    appendFileSync(path.join(model, 'generator/step.onnx'), 'x');
    const server = await testServer({ models: [model] });
    try {
      const worker = [...server.app.tessera.engine.slots.values()][0].inference;
      await waitFor(() => worker.lastError !== null);
      const generation = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2 } });
      expect(generation.statusCode).toBe(500);
      expect(generation.json()).toMatchObject({ error: { code: 'model_file', type: 'server_error' } });
      const ready = await server.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(503);
      for (const body of [generation.body, ready.body]) {
        expect(body).not.toContain(scratch);
        expect(body).not.toContain(os.tmpdir() + '/');
      }
      expect(ready.body).toContain('generator/step.onnx');
      // The failed child exits by design (its exit event may come after the answers above); then a
      // second request fails the same way without starting another child.
      await waitFor(() => worker.pid === undefined);
      const again = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: 'a red circle', candidates: 2 } });
      expect(again.json()).toMatchObject({ error: { code: 'model_file' } });
      expect(worker.restarts).toBe(0);
      expect(worker.pid).toBeUndefined();
    } finally {
      await server.close();
    }
  });
});
