/**
 * The objects image tokenizer's gate (issue 16): encode held-out scenes with the
 * package's VQ encoder, decode them, and ask the objects judge whether each
 * reconstruction still shows the source scene. Gate: scene agreement >= 98%.
 *
 *   npx tsx scripts/make-objects-dataset.ts --split heldout --count 1000 --seed 5 --out data/objects-heldout
 *   npx tsx scripts/check-objects-tokenizer-gate.ts --model models/objects [--data data/objects-heldout] [--limit 1000]
 * The world (objects or objects-mini) is the dataset's (meta.json).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TesseraError } from '../src/errors.js';
import { loadModel } from '../src/pipeline/loader.js';
import type { ParsedImage } from '../eval/objects/check.js';
import { ObjectsJudge } from '../eval/objects/judge.js';
import { loadWorld, type Spec, type World } from '../eval/objects/world.js';
import type { RgbImage } from '../src/types.js';
import { readNpyUint8 } from '../eval/world/npy.js';

const { values } = parseArgs({
  options: { model: { type: 'string' }, data: { type: 'string', default: 'data/objects-heldout' }, limit: { type: 'string', default: '1000' }, gate: { type: 'string', default: '0.98' } },
  strict: true,
});
const meta = JSON.parse(readFileSync(path.join(values.data, 'meta.json'), 'utf8')) as { world: World['name'] };
const world = loadWorld(meta.world);
const n2 = world.imageSize * world.imageSize * 3;

/** Same background and the same objects (concept, colour, size, centre within 4 px). */
function sameScene(a: ParsedImage, b: ParsedImage): boolean {
  if (a.background !== b.background || a.objects.length !== b.objects.length) return false;
  const unmatched = [...b.objects];
  for (const o of a.objects) {
    const i = unmatched.findIndex((p) => p.concept === o.concept && p.color === o.color && p.size === o.size && Math.abs(p.x - o.x) <= 4 && Math.abs(p.y - o.y) <= 4);
    if (i < 0) return false;
    unmatched.splice(i, 1);
  }
  return true;
}

const model = await loadModel({ model: values.model, rerank: false });
if (model.manifest.image.size !== world.imageSize) {
  throw new TesseraError('TESSERA_ERR_OPTION', `the model draws ${model.manifest.image.size}px images, the ${world.name} data is ${world.imageSize}px`, { param: 'data' });
}
const judge = await ObjectsJudge.create(world);
const { data: images, shape } = readNpyUint8(readFileSync(path.join(values.data, 'images-00000.npy')));
const specs = readFileSync(path.join(values.data, 'scenes-00000.jsonl'), 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as { spec: Spec }).spec);
const n = Math.min(Number(values.limit), shape[0]);
let sceneAgree = 0;
let specPass = 0;
const started = performance.now();
for (let start = 0; start < n; start += 32) {
  const batch: RgbImage[] = [];
  for (let i = start; i < Math.min(n, start + 32); i++) batch.push({ width: world.imageSize, height: world.imageSize, data: images.subarray(i * n2, (i + 1) * n2) });
  const reconstructions = await model.vq.toPixels(await model.vq.toCodes(batch));
  reconstructions.forEach((recon, k) => {
    if (sameScene(judge.parse(batch[k]), judge.parse(recon))) sceneAgree++;
    if (judge.check(recon, specs[start + k]).pass) specPass++;
  });
}
const pct = (x: number): string => `${((100 * x) / n).toFixed(2)}%`;
console.log(`model ${model.manifest.name}: ${n} held-out ${world.name} scenes in ${((performance.now() - started) / 1000).toFixed(1)} s`);
console.log(`scene agreement: ${sceneAgree}/${n} = ${pct(sceneAgree)} (gate >= ${Number(values.gate) * 100}%); spec pass on reconstructions: ${specPass}/${n} = ${pct(specPass)}`);
process.exitCode = sceneAgree / n >= Number(values.gate) ? 0 : 1;
