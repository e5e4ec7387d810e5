/**
 * npx tsx eval/harness/image-prompts.ts [--model DIR] [--scenes N] [--candidates N] [--seed S] [--out FILE]
 *
 * The proof of image prompts (issue 11) on the shapes model, judged by the shapes judge:
 *   completion  a scene with one object in its top half; keep the top 4 of 8 rows and ask
 *               for "<that object> above <a new object>". keep-rate: the kept object is
 *               still there (colour, shape, in the top half); prompt-rate: the judge
 *               passes the whole prompt (both objects, the relation, nothing else);
 *               the same prompt and seed without the image is the baseline.
 *   edit        a scene with one object left and one right; the right half is masked and
 *               the prompt asks for "<left object> left of <a new object>". Outside-mask
 *               error: mean absolute pixel difference (0-255) of the decoded result to
 *               the source and to the source's own VQ reconstruction; inside: the judge.
 *   vary        CLIP image-image similarity of the kept variation to its source, against
 *               the similarity of unrelated scenes of the same world (the floor) and of
 *               the source's own reconstruction (the ceiling), and how much it differs:
 *               share of codes changed, exact copies, pixel difference.
 * Each row's top-1 after CLIP reranking is judged (what a user gets), as in npm run eval.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { sharpFromRgb } from '../../src/image/rgb.js';
import { imagePromptFromBytes } from '../../src/pipeline/image-prompt.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { cosine } from '../../src/rerank/clip-reranker.js';
import { Judge } from '../shapes/judge.js';
import { createRng, type Rng } from '../world/prng.js';
import { renderScene } from '../shapes/render.js';
import { BACKGROUND_NAMES, COLOR_NAMES, IMAGE_SIZE, SHAPES, type BackgroundName, type ColorName, type SceneObject, type ShapeName, type SizeName } from '../shapes/world.js';
import type { RgbImage } from '../../src/types.js';
import { wilson, type Interval } from './metrics.js';

interface Item {
  color: ColorName;
  shape: ShapeName;
  size: SizeName;
}

const HALF = IMAGE_SIZE / 2;
/** Shares of the source's codes the variations keep: none, and the default. */
const VARY_SHARES = [0, 0.5] as const;

function pickItem(rng: Rng, avoid?: Item): Item {
  for (;;) {
    const item: Item = { color: rng.pick(COLOR_NAMES), shape: rng.pick(SHAPES), size: rng.chance(0.5) ? 'small' : 'large' };
    if (avoid === undefined || (item.color !== avoid.color && item.shape !== avoid.shape)) return item;
  }
}

function phrase(item: Item): string {
  return `${item.size === 'small' ? 'a small' : 'a large'} ${item.color} ${item.shape}`;
}

async function sceneImage(background: BackgroundName, objects: SceneObject[]): Promise<{ rgb: RgbImage; png: Buffer }> {
  const rgb: RgbImage = { width: IMAGE_SIZE, height: IMAGE_SIZE, data: await renderScene({ background, objects }) };
  return { rgb, png: await sharpFromRgb(rgb).png().toBuffer() };
}

/** Mean absolute difference (0-255) over the pixels where `where` is true. */
function meanAbs(a: RgbImage, b: RgbImage, where: (x: number, y: number) => boolean): number {
  let sum = 0;
  let n = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (!where(x, y)) continue;
      for (let c = 0; c < 3; c++) sum += Math.abs(a.data[(y * a.width + x) * 3 + c] - b.data[(y * b.width + x) * 3 + c]);
      n += 3;
    }
  }
  return n === 0 ? 0 : sum / n;
}

const mean = (values: number[]) => values.reduce((s, v) => s + v, 0) / Math.max(values.length, 1);
const rate = (hits: boolean[]): { rate: number; interval: Interval } => ({ rate: hits.filter(Boolean).length / Math.max(hits.length, 1), interval: wilson(hits.filter(Boolean).length, hits.length) });

interface Options {
  model: string | undefined;
  scenes: number;
  candidates: number;
  seed: number;
  out: string | undefined;
}

export async function runImagePromptEval(options: Options): Promise<Record<string, unknown>> {
  const tessera = await Tessera.load({ model: options.model });
  const judge = await Judge.create();
  const reranker = tessera.model.reranker;
  if (reranker === null) throw new Error('the proof needs the package\'s CLIP (image-image similarity)');
  const rng = createRng(options.seed);
  const common = { candidates: options.candidates, keep: 1 };
  const completion = { kept: [] as boolean[], prompt: [] as boolean[], textOnly: [] as boolean[] };
  const edit = { outsideToSource: [] as number[], outsideToReconstruction: [] as number[], insideToReconstruction: [] as number[], judged: [] as boolean[], leftKept: [] as boolean[] };
  const newVary = () => ({ toSource: [] as number[], reconstructionToSource: [] as number[], unrelatedToSource: [] as number[], betweenCandidates: [] as number[], codesChanged: [] as number[], copies: [] as boolean[], pixelDiff: [] as number[], judgedSame: [] as boolean[] });
  const vary = Object.fromEntries(VARY_SHARES.map((share) => [share, newVary()])) as Record<number, ReturnType<typeof newVary>>;
  for (let s = 0; s < options.scenes; s++) {
    const background = rng.pick(BACKGROUND_NAMES);
    const seed = options.seed * 1000 + s;

    // Completion: one object in the top half; keep the top 4 rows; ask for a new object below it.
    const top = pickItem(rng);
    const below = pickItem(rng, top);
    const x = rng.range(18, IMAGE_SIZE - 18);
    const source = await sceneImage(background, [{ ...top, x, y: 16 }]);
    const image = await imagePromptFromBytes({ mode: 'complete', image: source.png, keepRows: 4 }, tessera.manifest);
    const completionPrompt = `${phrase(top)} above ${phrase(below)} on a ${background} background`;
    const completionSpec = { kind: 'relation' as const, background, groups: [{ ...top, count: 1 }, { ...below, count: 1 }], relation: 'above' as const };
    const [done, textOnly] = await tessera.generateMany([
      { prompt: completionPrompt, image, seed, ...common },
      // The baseline: the same prompt and seed with no image (how often the text alone passes).
      { prompt: completionPrompt, seed, ...common },
    ]);
    completion.textOnly.push(judge.check(textOnly.kept[0].image, completionSpec).pass);
    const parsed = judge.parse(done.kept[0].image);
    completion.kept.push(parsed.objects.some((o) => o.color === top.color && o.shape === top.shape && o.y < HALF));
    completion.prompt.push(judge.check(done.kept[0].image, completionSpec).pass);

    // Edit: an object on the left and one on the right; mask the right half; ask for a new object there.
    const left = pickItem(rng);
    const right = pickItem(rng, left);
    const wanted = pickItem(rng, right);
    const scene = await sceneImage(background, [
      { ...left, x: 16, y: rng.range(18, IMAGE_SIZE - 18) },
      { ...right, x: 48, y: rng.range(18, IMAGE_SIZE - 18) },
    ]);
    const maskPixels = Buffer.alloc(IMAGE_SIZE * IMAGE_SIZE * 4, 255);
    for (let p = 0; p < IMAGE_SIZE * IMAGE_SIZE; p++) if (p % IMAGE_SIZE >= HALF) maskPixels[p * 4 + 3] = 0;
    const mask = await sharp(maskPixels, { raw: { width: IMAGE_SIZE, height: IMAGE_SIZE, channels: 4 } }).png().toBuffer();
    const editImage = await imagePromptFromBytes({ mode: 'edit', image: scene.png, mask }, tessera.manifest);
    const [edited] = await tessera.generateMany([{ prompt: `${phrase(left)} left of ${phrase(wanted)} on a ${background} background`, image: editImage, seed, ...common }]);
    const [reconstruction] = await tessera.model.vq.toPixels(await tessera.model.vq.toCodes([scene.rgb]));
    const out = edited.kept[0].image;
    edit.outsideToSource.push(meanAbs(out, scene.rgb, (px) => px < HALF));
    edit.outsideToReconstruction.push(meanAbs(out, reconstruction, (px) => px < HALF));
    edit.insideToReconstruction.push(meanAbs(out, reconstruction, (px) => px >= HALF));
    edit.judged.push(judge.check(out, { kind: 'relation', background, groups: [{ ...left, count: 1 }, { ...wanted, count: 1 }], relation: 'left' }).pass);
    edit.leftKept.push(judge.parse(out).objects.some((o) => o.color === left.color && o.shape === left.shape && o.x < HALF));

    // Variations: the same two-object scene, a share of its codes kept (or none), no text; CLIP ranks by likeness.
    const sourceCodes = (await tessera.model.vq.toCodes([scene.rgb]))[0];
    const unrelated = await sceneImage(rng.pick(BACKGROUND_NAMES), [{ ...pickItem(rng), x: 32, y: 32 }]);
    for (const share of VARY_SHARES) {
      const v = vary[share];
      const varyImage = await imagePromptFromBytes({ mode: 'vary', image: scene.png, keepShare: share }, tessera.manifest);
      const [varied] = await tessera.generateMany([{ prompt: '', image: varyImage, seed, ...common, keep: Math.min(4, options.candidates) }]);
      const best = varied.kept[0];
      const [eSource, eBest, eReconstruction, eUnrelated, ...eKept] = await reranker.embedImages([scene.rgb, best.image, reconstruction, unrelated.rgb, ...varied.kept.map((k) => k.image)]);
      v.toSource.push(cosine(eSource, eBest));
      v.reconstructionToSource.push(cosine(eSource, eReconstruction));
      v.unrelatedToSource.push(cosine(eSource, eUnrelated));
      const pairs: number[] = [];
      for (let i = 0; i < eKept.length; i++) for (let j = i + 1; j < eKept.length; j++) pairs.push(cosine(eKept[i], eKept[j]));
      v.betweenCandidates.push(mean(pairs));
      v.codesChanged.push(best.tokens.reduce((n, code, j) => n + (code !== sourceCodes[j] ? 1 : 0), 0) / best.tokens.length);
      v.copies.push(best.tokens.every((code, j) => code === sourceCodes[j]));
      v.pixelDiff.push(meanAbs(best.image, scene.rgb, () => true));
      v.judgedSame.push(judge.check(best.image, { kind: 'relation', background, groups: [{ ...left, count: 1 }, { ...right, count: 1 }], relation: 'left' }).pass);
    }
    process.stderr.write(`\rscene ${s + 1}/${options.scenes}`);
  }
  process.stderr.write('\n');
  await tessera.dispose();
  const report = {
    model: tessera.manifest.name,
    scenes: options.scenes,
    candidates: options.candidates,
    seed: options.seed,
    completion: { keepRows: 4, keepRate: rate(completion.kept), promptRate: rate(completion.prompt), textOnlyPromptRate: rate(completion.textOnly) },
    edit: {
      mask: 'right half',
      outsideMeanAbsToSource: mean(edit.outsideToSource),
      outsideMeanAbsToReconstruction: mean(edit.outsideToReconstruction),
      insideMeanAbsToReconstruction: mean(edit.insideToReconstruction),
      insideJudgeRate: rate(edit.judged),
      leftObjectKeptRate: rate(edit.leftKept),
    },
    vary: VARY_SHARES.map((share) => {
      const v = vary[share];
      return {
        keepShare: share,
        clipToSource: mean(v.toSource),
        clipReconstructionToSource: mean(v.reconstructionToSource),
        clipUnrelatedToSource: mean(v.unrelatedToSource),
        clipBetweenKeptVariations: mean(v.betweenCandidates),
        codesChanged: mean(v.codesChanged),
        exactCopies: rate(v.copies),
        pixelMeanAbsToSource: mean(v.pixelDiff),
        sameSceneJudgeRate: rate(v.judgedSame),
      };
    }),
  };
  if (options.out !== undefined) await writeFile(options.out, JSON.stringify(report, null, 2) + '\n');
  return report;
}

const invokedAs = process.argv[1] ?? '';
if (/image-prompts\.(ts|js)$/.test(invokedAs)) {
  const { values } = parseArgs({
    options: { model: { type: 'string' }, scenes: { type: 'string' }, candidates: { type: 'string' }, seed: { type: 'string' }, out: { type: 'string' } },
  });
  runImagePromptEval({
    model: values.model,
    scenes: Number(values.scenes ?? 40),
    candidates: Number(values.candidates ?? 16),
    seed: Number(values.seed ?? 1),
    out: values.out,
  }).then(
    (report) => process.stdout.write(JSON.stringify(report, null, 2) + '\n'),
    (error: unknown) => {
      process.stderr.write(`image-prompts eval failed: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
