/**
 * Why sampling lanes (src/pipeline/lanes.ts): one step graph's time on one session with the
 * intra-op threads Tessera uses (TESSERA_THREADS, no spinning) at R rows, against the same
 * R rows split over L lanes, each a session with ONE thread in its own worker thread,
 * stepping at the same time (what the lanes do, without the sampling between steps).
 * Random caches at `--slots` filled slots; the rounds alternate the two set-ups.
 *
 *   node --import tsx bench/perf/lanes.ts [--model models/default] [--precision int8|fp32]
 *     [--rows 32,128] [--slots 48] [--lanes 2] [--steps 40] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, workerData, type Worker } from 'node:worker_threads';
import path from 'node:path';
import { readManifest } from '../../src/model/manifest.js';
import { graphsFor, type Precision } from '../../src/model/precision.js';
import { createSession, kernelOptions, ort } from '../../src/model/runtime.js';
import { spawnModuleWorker } from '../../src/util/module-worker.js';
import { cpuFlagsLine, machineLine, median, table } from './machine.js';

interface Job {
  file: string;
  rows: number;
  slots: number;
  steps: number;
  threads: number;
  layers: number;
  heads: number;
  headDim: number;
  textLength: number;
}

/** A fresh session, warmed up by 5 steps; the returned function times `job.steps` more (ms per step). */
async function prepare(job: Job): Promise<() => Promise<number>> {
  const session = await createSession(job.file, 'cpu', undefined, { intraOpNumThreads: job.threads });
  const { rows, slots, heads, headDim, textLength } = job;
  const random = (dims: number[], fill = () => Math.random() - 0.5) => new ort.Tensor('float32', Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, fill), dims);
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: rows }, () => 5n), [rows, 1]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from({ length: rows }, () => BigInt(textLength + slots)), [rows, 1]),
    attention_mask: random([rows, slots], () => 1),
    text_mask: random([1, textLength], () => 1),
  };
  for (let l = 0; l < job.layers; l++) {
    feeds[`past_key_${l}`] = random([rows, heads, slots, headDim]);
    feeds[`past_value_${l}`] = random([rows, heads, slots, headDim]);
    feeds[`text_key_${l}`] = random([1, heads, textLength, headDim]);
    feeds[`text_value_${l}`] = random([1, heads, textLength, headDim]);
  }
  const used = Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]]));
  for (let i = 0; i < 5; i++) await session.run(used);
  return async () => {
    const started = performance.now();
    for (let i = 0; i < job.steps; i++) await session.run(used);
    const ms = (performance.now() - started) / job.steps;
    await session.release();
    return ms;
  };
}

if (!isMainThread) {
  // Ready once warmed up; every lane starts timing on the same 'go'.
  const timed = await prepare(workerData as Job);
  parentPort!.once('message', async () => parentPort!.postMessage(await timed()));
  parentPort!.postMessage('ready');
} else {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: 'models/default' },
      precision: { type: 'string', default: 'int8' },
      rows: { type: 'string', default: '32,128' },
      slots: { type: 'string', default: '48' },
      lanes: { type: 'string', default: '2' },
      steps: { type: 'string', default: '40' },
      rounds: { type: 'string', default: '3' },
    },
  });
  const dir = path.resolve(values.model);
  const manifest = readManifest(dir);
  if (manifest.architecture !== 'decoder-only' || manifest.generator.cache?.text !== 'prefixes') throw new Error('bench/perf/lanes.ts feeds a decoder-only step graph with its text fed once per text (models/default)');
  const file = path.join(dir, graphsFor(manifest, values.precision as Precision).step);
  const lanes = Number(values.lanes);
  const { layers, heads, headDim } = manifest.generator;
  const base = { file, slots: Number(values.slots), steps: Number(values.steps), layers, heads, headDim, textLength: manifest.text.length };
  console.log(machineLine());
  console.log(cpuFlagsLine());
  console.log(`${path.relative(process.cwd(), file)}, ${values.slots} slots, ${values.steps} steps a measure; one session: ${kernelOptions().intraOpNumThreads} intra-op threads (no spinning); lanes: ${lanes} worker threads, one intra-op thread each`);
  const rows = values.rows.split(',').map(Number);
  const results = [];
  for (const r of rows) {
    const one: number[] = [];
    const laned: number[] = [];
    for (let round = 0; round < Number(values.rounds); round++) {
      one.push(await (await prepare({ ...base, rows: r, threads: kernelOptions().intraOpNumThreads }))());
      // Every lane's rows step at once; the lanes' time is the slowest lane's.
      const share = Math.ceil(r / lanes);
      const workers = Array.from({ length: lanes }, () => spawnModuleWorker(fileURLToPath(import.meta.url), { workerData: { ...base, rows: share, threads: 1 } satisfies Job }));
      const answer = (w: Worker) => new Promise<unknown>((resolve, reject) => w.once('message', resolve).once('error', reject));
      await Promise.all(workers.map(answer));
      const timing = workers.map(answer);
      for (const w of workers) w.postMessage('go');
      const times = (await Promise.all(timing)) as number[];
      await Promise.all(workers.map((w) => w.terminate()));
      laned.push(Math.max(...times));
    }
    results.push([r, median(one).toFixed(2), median(laned).toFixed(2), `${(median(one) / median(laned)).toFixed(2)}x`]);
  }
  console.log(table(['rows', `one session, ${kernelOptions().intraOpNumThreads} threads: ms/step`, `${lanes} lanes of rows/${lanes}, 1 thread each: ms/step`, 'lanes speed-up'], results));
}
