/**
 * Across requests (issue 12): a real `tessera serve` at its default settings (shipped
 * model; `--serve-args` adds flags, to measure other settings), 8 requests of 4 candidates sent at once against the same 8 sent one after
 * another: images/s of each, whether every request got the same images both ways
 * (fixed seeds), and a lone request's time against the sequential ones'.
 */
import { withoutFootprintChunk } from '../../src/image/index.js';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, table } from './machine.js';

interface Answer {
  data: { b64_json: string }[];
}

export async function acrossRequests(model: string, prompt: string, rounds: number, serveArgs: readonly string[] = []): Promise<Record<string, unknown>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'tessera-requests-'));
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--model', model, '--port', '0', '--data', dataDir, '--quiet', ...serveArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let text = '';
      server.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString();
        const match = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(text);
        if (match) resolve(match[1]);
      });
      server.once('exit', (code) => reject(new Error(`tessera serve exited (${code}): ${text}`)));
    });
    const generate = async (seed: number): Promise<string[]> => {
      const response = await fetch(`${base}/v1/images/generations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ prompt, n: 4, candidates: 4, seed, response_format: 'b64_json' }),
      });
      if (response.status !== 200) throw new Error(`request ${seed}: HTTP ${response.status} ${await response.text()}`);
      // Compared without the footprint chunk: it holds the request's own measured times.
      return ((await response.json()) as Answer).data.map((d) => withoutFootprintChunk(Buffer.from(d.b64_json, 'base64')).toString('base64'));
    };
    const seeds = Array.from({ length: 8 }, (_, i) => 100 + i);
    await generate(1); // warm-up
    const sequential: number[] = [];
    const concurrent: number[] = [];
    const lone: number[] = [];
    const perRequest: number[] = [];
    let identical = true;
    for (let round = 0; round < rounds; round++) {
      let started = performance.now();
      const one: string[][] = [];
      for (const seed of seeds) {
        const t = performance.now();
        one.push(await generate(seed));
        perRequest.push(performance.now() - t);
      }
      sequential.push(performance.now() - started);
      started = performance.now();
      const together = await Promise.all(seeds.map((seed) => generate(seed)));
      concurrent.push(performance.now() - started);
      identical &&= together.every((images, i) => images.length === one[i].length && images.every((b, k) => b === one[i][k]));
      started = performance.now();
      await generate(seeds[0]);
      lone.push(performance.now() - started);
    }
    const images = seeds.length * 4;
    const row = {
      sequentialMs: median(sequential),
      concurrentMs: median(concurrent),
      sequentialImagesPerS: images / (median(sequential) / 1000),
      concurrentImagesPerS: images / (median(concurrent) / 1000),
      ratio: median(sequential) / median(concurrent),
      loneMs: median(lone),
      sequentialRequestMs: median(perRequest),
      identical,
    };
    console.log(`\nacross requests: 8 requests x 4 candidates, tessera serve ${serveArgs.join(' ') || 'at its defaults'} (median of ${rounds} rounds; same images both ways: ${identical}):`);
    console.log(
      table(
        ['one after another', 'all 8 at once', 'images/s (sequential)', 'images/s (concurrent)', 'ratio', 'lone request ms', 'sequential request ms'],
        [[`${row.sequentialMs.toFixed(0)} ms`, `${row.concurrentMs.toFixed(0)} ms`, row.sequentialImagesPerS.toFixed(2), row.concurrentImagesPerS.toFixed(2), `${row.ratio.toFixed(2)}x`, row.loneMs.toFixed(0), row.sequentialRequestMs.toFixed(0)]],
      ),
    );
    return row;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

