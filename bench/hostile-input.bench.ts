/**
 * Issue 23's hostile uploads against a running server (`node --import tsx bench/hostile-input.bench.ts`):
 * the worst /healthz latency (polled every 20 ms) while a generation samples alone, then
 * while four posts of the probe's SVG and three edits with a transparent 4096x4096 mask
 * arrive (each edit asks for a size the model lacks, so it is refused with 400 after its
 * image and mask are decoded: its time is the decode's); and that the generation still
 * completes. Figures, not assertions (the tests assert codes); the CPU is printed with
 * them. HOSTILE_SKIP_SVG=1 leaves the SVG out (for code that still renders SVG).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from '../src/server/app.js';
import { STEP_DELAY_ENV } from '../src/inference/protocol.js';
import { flatImage, hostileSvg, transparentPng } from '../test/helpers/hostile.js';
import { cpuFlagsLine, machineLine } from './perf/machine.js';

process.env[STEP_DELAY_ENV] = '20';
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-hostile-'));
const app = await build({ models: [path.resolve('test/fixtures/tiny-model')], dataDir, rateLimit: false, waitReady: true });
const base = await app.listen({ host: '127.0.0.1', port: 0 });

function form(parts: [string, Buffer | string, string?][]): FormData {
  const f = new FormData();
  for (const [name, value, filename] of parts) {
    if (typeof value === 'string') f.append(name, value);
    else f.append(name, new Blob([new Uint8Array(value)]), filename);
  }
  return f;
}

async function timed(label: string, run: () => Promise<Response>): Promise<string> {
  const started = performance.now();
  const response = await run();
  const body = (await response.json()) as { error?: { code: string; message: string } };
  return `${label}: ${response.status} ${body.error?.code ?? 'ok'} in ${(performance.now() - started).toFixed(0)} ms${body.error ? ` (${body.error.message.slice(0, 80)})` : ''}`;
}

let worstHealth = 0;
let polling = true;
const poll = (async () => {
  while (polling) {
    const started = performance.now();
    await fetch(`${base}/healthz`);
    worstHealth = Math.max(worstHealth, performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
})();

async function generation(): Promise<string> {
  const job = (await (await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'a red circle', candidates: 4 }) })).json()) as { id: string };
  let status = '';
  while (!['succeeded', 'failed', 'cancelled'].includes(status)) {
    status = ((await (await fetch(`${base}/v1/jobs/${job.id}`)).json()) as { status: string }).status;
    await new Promise((r) => setTimeout(r, 100));
  }
  return status;
}

const alone = await generation();
const worstAlone = worstHealth;
worstHealth = 0;
const running = generation();
const svg = hostileSvg();
const [image, mask] = [await flatImage(4096, 4096, 'jpeg'), await transparentPng(4096, 4096)];
const lines = await Promise.all([
  ...(process.env.HOSTILE_SKIP_SVG === '1' ? [] : Array.from({ length: 4 }, (_, i) => timed(`SVG variation ${i + 1}`, () => fetch(`${base}/v1/images/variations`, { method: 'POST', body: form([['image', svg, 'x.svg']]) })))),
  ...Array.from({ length: 3 }, (_, i) =>
    timed(`edit ${i + 1}, 4096x4096 image + transparent mask, decoded then refused (size)`, () =>
      fetch(`${base}/v1/images/edits`, { method: 'POST', body: form([['image', image, 'big.jpg'], ['mask', mask, 'mask.png'], ['prompt', 'a star'], ['size', '3x3']]) }),
    ),
  ),
]);
const status = await running;
polling = false;
await poll;
console.log(machineLine());
console.log(cpuFlagsLine());
for (const line of lines) console.log(line);
console.log(`worst /healthz latency: ${worstAlone.toFixed(0)} ms with the generation alone (${alone}); ${worstHealth.toFixed(0)} ms with the uploads (the generation: ${status})`);
await app.close();
rmSync(dataDir, { recursive: true, force: true });
