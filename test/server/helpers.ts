import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { build, type BuildOptions } from '../../src/server/app.js';
import { STEP_DELAY_ENV } from '../../src/inference/protocol.js';

export const TINY_MODEL = path.resolve('test/fixtures/tiny-model');

export interface TestServer {
  app: FastifyInstance;
  dataDir: string;
  close: () => Promise<void>;
}

export interface TestServerOptions extends BuildOptions {
  /**
   * Sleep per sampling step in the inference child (the child's test seam, an environment
   * variable). It is set for this test file's process, so a worker spawned later (a
   * restart, another test server) reads the value of the latest testServer call.
   */
  workerStepDelayMs?: number;
}

/** An app over the tiny model with its own temporary data folder. */
export async function testServer({ workerStepDelayMs, ...options }: TestServerOptions = {}): Promise<TestServer> {
  if (workerStepDelayMs === undefined) delete process.env[STEP_DELAY_ENV];
  else process.env[STEP_DELAY_ENV] = String(workerStepDelayMs);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-server-'));
  const app = await build({ models: [TINY_MODEL], dataDir, rateLimit: false, ...options });
  return {
    app,
    dataDir,
    close: async () => {
      await app.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Parses an SSE body into events. */
export function parseSse(body: string): { event: string | null; data: unknown }[] {
  return body
    .split('\n\n')
    .map((block) => {
      let event: string | null = null;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
      }
      return data.length === 0 ? null : { event, data: JSON.parse(data.join('\n')) as unknown };
    })
    .filter((e): e is { event: string | null; data: unknown } => e !== null);
}

export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 25));
  }
}
