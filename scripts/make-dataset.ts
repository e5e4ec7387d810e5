/**
 * Writes the shapes dataset.
 *   npx tsx scripts/make-dataset.ts --count 100000 --seed 1 --out data/shapes [--split train|heldout] [--concurrency 8]
 * The docs' sample page instead:
 *   npx tsx scripts/make-dataset.ts --samples docs/img/shapes-samples.png --seed 1
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { TesseraError } from '../src/errors.js';
import { writeDataset } from '../eval/shapes/dataset.js';
import { samplePage } from '../eval/shapes/samples.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'data/shapes' },
    split: { type: 'string', default: 'train' },
    concurrency: { type: 'string', default: '8' },
    samples: { type: 'string' },
  },
  strict: true,
});
if (values.split !== 'train' && values.split !== 'heldout') {
  throw new TesseraError('TESSERA_ERR_OPTION', `--split must be "train" or "heldout", got ${JSON.stringify(values.split)}`, { param: 'split' });
}
if (values.samples !== undefined) {
  const { png, captions } = await samplePage(values.split, Number(values.seed), 32);
  await writeFile(values.samples, png);
  console.log(captions.map((caption, i) => `${i + 1}. ${caption}`).join('\n'));
  process.exit(0);
}
const summary = await writeDataset({
  count: Number(values.count),
  seed: Number(values.seed),
  out: values.out,
  split: values.split,
  concurrency: Number(values.concurrency),
  onProgress: (done, total) => process.stderr.write(`${done}/${total} scenes\n`),
});
console.log(`wrote ${summary.scenes} scenes in ${summary.shards} shard(s) to ${values.out}: ${summary.seconds.toFixed(1)} s, ${summary.scenesPerSecond.toFixed(0)} scenes/s`);
