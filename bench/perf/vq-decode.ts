/**
 * The VQ decoder's cost as a request pays it (issue 27): a fresh process loads one decoder graph
 * with Tessera's own session options and decodes `--images` seeded random code grids through
 * VqCodec.toPixels (its chunking, its planar-to-RGB conversion), and prints one JSON line: wall
 * and process CPU seconds, peak RSS, a hash of every pixel (equal hashes: equal pixels), the
 * load average. Run it once per graph and alternate graphs between runs: each run is cold, as a
 * one-shot `tessera generate` is, and no two decoders share the process's memory.
 *
 *   node --import tsx bench/perf/vq-decode.ts --package DIR --graph vae/decoder.int8.onnx [--images 32] [--batch N] [--seed 11] [--mem-pattern on]
 *
 * --graph is relative to the package (or absolute); --batch overrides VqCodec's grids per call.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { readManifest } from '../../src/model/manifest.js';
import { createSession } from '../../src/model/runtime.js';
import { VQ_SESSION, VqCodec, vqBatchSize } from '../../src/vq/vq-codec.js';
import { createRng } from '../../eval/world/prng.js';
import { cpuFlagsLine, machineLine } from './machine.js';

const { values } = parseArgs({
  options: { package: { type: 'string' }, graph: { type: 'string' }, images: { type: 'string', default: '32' }, batch: { type: 'string' }, 'mem-pattern': { type: 'string', default: 'off' }, seed: { type: 'string', default: '11' } },
});
if (values.package === undefined || values.graph === undefined) throw new Error('usage: vq-decode.ts --package DIR --graph FILE [--images 32] [--batch N]');
const manifest = readManifest(values.package);
const graph = path.resolve(values.package, values.graph);
const started = performance.now();
const cpuStart = process.cpuUsage();
// The app's VQ session settings (no memory pattern, VQ_SESSION); --mem-pattern on: onnxruntime's default.
const session = await createSession(graph, 'cpu', undefined, values['mem-pattern'] === 'on' ? {} : VQ_SESSION);
const loadS = (performance.now() - started) / 1000;
const vq = new VqCodec(manifest, session, null, values.batch === undefined ? vqBatchSize(manifest.image.size) : Number(values.batch));
const next = createRng(Number(values.seed)).next;
const cells = manifest.image.grid.height * manifest.image.grid.width;
const grids = Array.from({ length: Number(values.images) }, () => Int32Array.from({ length: cells }, () => Math.floor(next() * manifest.image.vocabSize)));
const cpuBefore = process.cpuUsage();
const decodeStarted = performance.now();
const images = await vq.toPixels(grids);
const decodeS = (performance.now() - decodeStarted) / 1000;
const cpu = process.cpuUsage(cpuBefore);
const total = process.cpuUsage(cpuStart);
const hash = createHash('sha256');
for (const image of images) hash.update(image.data);
console.error(machineLine());
console.error(cpuFlagsLine());
console.log(
  JSON.stringify({
    graph: values.graph,
    images: images.length,
    batch: vq.batchSize,
    loadS: +loadS.toFixed(2),
    decodeS: +decodeS.toFixed(2),
    decodeCpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    processCpuS: +((total.user + total.system) / 1e6).toFixed(2),
    peakRssGb: +(process.resourceUsage().maxRSS / 1e6).toFixed(2),
    pixels: hash.digest('hex').slice(0, 16),
    load: os.loadavg().map((l) => +l.toFixed(2)),
  }),
);
await session.release();
