import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model/manifest.js';
import { graphsFor } from '../../src/model/precision.js';
import { createSession } from '../../src/model/runtime.js';
import { loadModel } from '../../src/pipeline/loader.js';
import type { RgbImage } from '../../src/types.js';
import { VQ_SESSION, VqCodec } from '../../src/vq/vq-codec.js';
import { VqLanes } from '../../src/vq/vq-lanes.js';
import { ROOT, TINY_MODEL } from '../helpers/tiny.js';

// The converted tiny min-dalle package: 256 px images (VQ_LANE_MIN_PIXELS and up), a 2 MB decoder.
const PACKAGE = path.join(ROOT, 'test/fixtures/min-dalle/package');
const manifest = readManifest(PACKAGE);
const graph = path.join(PACKAGE, graphsFor(manifest, 'fp32').decoder);
const load = { graph, ...manifest.image.grid, size: manifest.image.size };
const cells = manifest.image.grid.height * manifest.image.grid.width;
const grids = Array.from({ length: 5 }, (_, g) => Int32Array.from({ length: cells }, (_, i) => (g * 7919 + i * 104729) % manifest.image.vocabSize));

/** Largest difference of any byte between two image lists of the same sizes. */
function maxDifference(a: RgbImage[], b: RgbImage[]): number {
  expect(b.map((i) => [i.width, i.height, i.data.length])).toEqual(a.map((i) => [i.width, i.height, i.data.length]));
  let most = 0;
  a.forEach((image, n) => image.data.forEach((v, k) => (most = Math.max(most, Math.abs(v - b[n].data[k])))));
  return most;
}

async function codec(): Promise<VqCodec> {
  return new VqCodec(manifest, await createSession(graph, 'cpu', undefined, VQ_SESSION), null);
}

describe('VQ decoding lanes', () => {
  it('decode the grids in order, as the calling thread does (one thread against two: the last bit of a byte at most)', async () => {
    const alone = await (await codec()).toPixels(grids);
    const lanes = VqLanes.start(load, 2);
    await lanes.ready;
    expect(maxDifference(alone, await lanes.toPixels(grids))).toBeLessThanOrEqual(1);
    const withLanes = await codec();
    withLanes.useLanes(lanes);
    expect(withLanes.inLanes).toBe(true);
    expect(maxDifference(alone, await withLanes.toPixels(grids))).toBeLessThanOrEqual(1);
    expect(maxDifference(alone.slice(0, 1), await withLanes.toPixels(grids.slice(0, 1)))).toBe(0); // one grid: this thread's session
    await withLanes.close();
    expect(withLanes.inLanes).toBe(false);
  });

  it('a lane that cannot open its graph leaves the decoding to the calling thread', async () => {
    const alone = await (await codec()).toPixels(grids);
    const broken = await codec();
    broken.useLanes(VqLanes.start({ ...load, graph: path.join(PACKAGE, 'vae/missing.onnx') }, 2));
    expect(maxDifference(alone, await broken.toPixels(grids))).toBe(0);
    expect(broken.inLanes).toBe(false);
  });

  it("open for the CLI's one-shot loads of 256 px packages only", async () => {
    const oneShot = await loadModel({ model: PACKAGE, rerank: false, lanes: 'auto' });
    const plain = await loadModel({ model: PACKAGE, rerank: false });
    const small = await loadModel({ model: TINY_MODEL, rerank: false, lanes: 'auto' });
    expect([oneShot.vq.inLanes, plain.vq.inLanes, small.vq.inLanes]).toEqual([true, false, false]);
    await Promise.all([oneShot, plain, small].map((m) => Promise.all([m.vq.close(), m.lanes?.close()])));
  });

  it('closed while their threads still open the decoder, let them finish first: the process does not abort', async () => {
    const lanes = VqLanes.start(load, 2);
    await lanes.close(); // at once: both threads are inside onnxruntime's session load
    await expect(lanes.ready).resolves.toBeUndefined(); // they opened; close() waited for it
  });

  it("a one-shot tessera generate at a forced precision exits 0 (its VQ lanes were terminated mid-load: SIGABRT)", () => {
    const out = mkdtempSync(path.join(os.tmpdir(), 'tessera-vq-lanes-'));
    try {
      for (const precision of ['fp32', 'int8']) {
        const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'generate', 'a red circle', '--model', PACKAGE, '--candidates', '2', '--no-rerank', '--precision', precision, '--seed', '3', '--quiet', '--out', out], { cwd: ROOT, encoding: 'utf8' });
        expect({ precision, status: run.status, signal: run.signal, stderr: run.stderr }).toEqual({ precision, status: 0, signal: null, stderr: '' });
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);
});
