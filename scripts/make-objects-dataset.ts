/**
 * Writes an objects-world dataset (docs/objects.md).
 *   npx tsx scripts/make-objects-dataset.ts --world objects --count 200000 --seed 1 --out data/objects [--split train|heldout]
 *   npx tsx scripts/make-objects-dataset.ts --world objects-mini --count 20000 --out data/objects-mini
 *   npx tsx scripts/make-objects-dataset.ts --atlas --count 300000 --out data/objects-atlas   # scenes + sprites only (GPU path)
 *   npx tsx scripts/make-objects-dataset.ts --samples docs/img/objects-samples.png --seed 1
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { TesseraError } from '../src/errors.js';
import { writeObjectsDataset } from '../eval/objects/dataset.js';
import { samplePage } from '../eval/objects/samples.js';
import { loadWorld } from '../eval/objects/world.js';

const { values } = parseArgs({
  options: {
    world: { type: 'string', default: 'objects' },
    count: { type: 'string', default: '200000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: 'data/objects' },
    split: { type: 'string', default: 'train' },
    concurrency: { type: 'string', default: '8' },
    samples: { type: 'string' },
    atlas: { type: 'boolean', default: false },
  },
  strict: true,
});
if (values.split !== 'train' && values.split !== 'heldout') {
  throw new TesseraError('TESSERA_ERR_OPTION', `--split must be "train" or "heldout", got ${JSON.stringify(values.split)}`, { param: 'split' });
}
if (values.world !== 'objects' && values.world !== 'objects-mini') {
  throw new TesseraError('TESSERA_ERR_OPTION', `--world must be "objects" or "objects-mini", got ${JSON.stringify(values.world)}`, { param: 'world' });
}
const world = loadWorld(values.world);
if (values.samples !== undefined) {
  const { png, captions } = await samplePage(world, values.split, Number(values.seed), 32);
  await writeFile(values.samples, png);
  console.log(captions.map((caption, i) => `${i + 1}. ${caption}`).join('\n'));
  process.exit(0);
}
const summary = await writeObjectsDataset({
  world, count: Number(values.count), seed: Number(values.seed), out: values.out, split: values.split,
  concurrency: Number(values.concurrency), atlas: values.atlas, onProgress: (done, total) => process.stderr.write(`${done}/${total} scenes\n`),
});
console.log(`wrote ${summary.scenes} scenes in ${summary.shards} shard(s) to ${values.out}: ${summary.seconds.toFixed(1)} s, ${(summary.scenes / summary.seconds).toFixed(0)} scenes/s`);
