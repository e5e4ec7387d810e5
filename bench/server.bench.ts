/**
 * Bounded loopback load test of `tessera serve` (npm run bench:server).
 *
 * Starts the real `tessera serve` in its own process (tiny random-weight model by
 * default; TESSERA_BENCH_MODEL to change it), saturates its generation queue with
 * autocannon while a steady poller measures /healthz, then checks that every
 * generation request got 200 or 429 (none lost, none hung) and that /healthz p99
 * stayed under 50 ms while inference was busy. Prints the figures and the machine's
 * load average (other processes on a shared machine show up in the tail latency).
 */
import autocannon, { type Result } from 'autocannon';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const MODEL = path.resolve(process.env.TESSERA_BENCH_MODEL ?? 'test/fixtures/tiny-model');
const GENERATIONS = Number(process.env.TESSERA_BENCH_REQUESTS ?? 80);
const CONNECTIONS = Number(process.env.TESSERA_BENCH_CONNECTIONS ?? 16);
const HEALTH_RATE = 100; // requests per second
const MAX_QUEUE = 4;
const HEALTH_P99_MS = 50;

const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
const server = spawn(
  process.execPath,
  ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', MODEL, '--port', '0', '--data', dataDir, '--max-queue', String(MAX_QUEUE), '--rate-limit', '0', '--quiet'],
  { stdio: ['ignore', 'inherit', 'pipe'] },
);
const base = await new Promise<string>((resolve, reject) => {
  let text = '';
  server.stderr.on('data', (chunk: Buffer) => {
    text += chunk.toString();
    const match = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
    if (match) resolve(match[1]);
  });
  server.once('exit', (code) => reject(new Error(`tessera serve exited (${code}): ${text}`)));
});
const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
function get(url: string): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, timeout: 10_000 }, (response) => {
        let body = '';
        response.on('data', (c: Buffer) => (body += c.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body, ms: performance.now() - started }));
      })
      .on('error', reject);
  });
}
while ((await get(`${base}/readyz`).catch(() => ({ status: 0 }))).status !== 200) await new Promise((r) => setTimeout(r, 200));

let done = false;
let maxDepth = 0;
const healthMs: number[] = [];
let healthErrors = 0;
const healthPoller = (async () => {
  let next = performance.now();
  while (!done) {
    next += 1000 / HEALTH_RATE;
    const r = await get(`${base}/healthz`).catch(() => null);
    if (r === null || r.status !== 200) healthErrors += 1;
    else healthMs.push(r.ms);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
  }
})();
const depthPoller = setInterval(() => {
  void get(`${base}/readyz`).then(
    (r) => (maxDepth = Math.max(maxDepth, ...(JSON.parse(r.body) as { models: { queued: number }[] }).models.map((m) => m.queued))),
    () => undefined,
  );
}, 50);

const load = os.loadavg()[0];
const started = performance.now();
const gen: Result = await new Promise((resolve, reject) =>
  autocannon(
    {
      url: `${base}/v1/images/generations`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'a red circle above a blue square', candidates: 4, n: 1, response_format: 'b64_json' }),
      connections: CONNECTIONS,
      amount: GENERATIONS,
      timeout: 120,
    },
    (error, result) => (error ? reject(error) : resolve(result)),
  ),
);
const elapsed = (performance.now() - started) / 1000;
done = true;
clearInterval(depthPoller);
await healthPoller;

const codes = Object.fromEntries(Object.entries(gen.statusCodeStats ?? {}).map(([code, s]) => [code, (s as { count: number }).count]));
const ok = codes['200'] ?? 0;
const limited = codes['429'] ?? 0;
const other = Object.entries(codes).filter(([c]) => c !== '200' && c !== '429');
const answered = ok + limited + other.reduce((n, [, c]) => n + c, 0);
healthMs.sort((a, b) => a - b);
const pct = (p: number) => healthMs[Math.min(healthMs.length - 1, Math.floor((p / 100) * healthMs.length))] ?? NaN;

console.log(`tessera server bench: loopback, ${path.basename(MODEL)}, max queue ${MAX_QUEUE}, ${CONNECTIONS} connections, ${os.cpus().length} CPUs, load average ${load.toFixed(2)}`);
console.log(`  generation requests sent:     ${GENERATIONS}`);
console.log(`  answered:                     ${answered} (200: ${ok}, 429: ${limited}${other.length ? `, other: ${JSON.stringify(Object.fromEntries(other))}` : ''})`);
console.log(`  errors / timeouts:            ${gen.errors} / ${gen.timeouts}`);
console.log(`  max queue depth seen:         ${maxDepth} of ${MAX_QUEUE}`);
console.log(`  generation latency p50 / p99: ${gen.latency.p50} ms / ${gen.latency.p99} ms (429s included)`);
console.log(`  images per second:            ${(ok / elapsed).toFixed(2)} over ${elapsed.toFixed(1)} s`);
console.log(`  /healthz during load:         ${healthMs.length} requests at ~${HEALTH_RATE}/s, p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms, max ${healthMs.at(-1)?.toFixed(1)} ms, ${healthErrors} errors`);

const failures: string[] = [];
if (answered !== GENERATIONS) failures.push(`${GENERATIONS - answered} generation requests got no response`);
if (other.length > 0) failures.push(`unexpected status codes ${JSON.stringify(Object.fromEntries(other))}`);
if (gen.errors + gen.timeouts > 0) failures.push(`${gen.errors} errors, ${gen.timeouts} timeouts`);
if (limited === 0) failures.push('the queue was never saturated (no 429)');
if (!(pct(99) < HEALTH_P99_MS)) failures.push(`/healthz p99 ${pct(99).toFixed(1)} ms >= ${HEALTH_P99_MS} ms`);
if (healthErrors > 0) failures.push(`/healthz had ${healthErrors} errors`);

server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));
agent.destroy();
rmSync(dataDir, { recursive: true, force: true });
if (failures.length > 0) {
  console.error(`FAIL: ${failures.join('; ')}`);
  process.exitCode = 1;
} else {
  console.log('PASS: every request got 200 or 429, none lost or hung; /healthz p99 under 50 ms');
}
