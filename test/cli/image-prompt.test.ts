import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { DEFAULT_MODEL_DIR } from '../../src/pipeline/loader.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { imagePromptFromBytes } from '../../src/pipeline/image-prompt.js';
import { MAX_INPUT_BYTES } from '../../src/image/input.js';
import { COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, readImageMetadata } from '../../src/image/index.js';
import { maskPng, testPicture } from '../helpers/images.js';
import { copyTinyModel, tempDir, TINY_MODEL } from '../helpers/tiny.js';
import sharp from 'sharp';
import { renderScene } from '../../eval/shapes/render.js';

let stdout = '';
let stderr = '';
let dir: string;
let picture: string;
let mask: string;

beforeAll(async () => {
  dir = tempDir();
  picture = path.join(dir, 'picture.jpg');
  writeFileSync(picture, await testPicture(96, 64, 'jpeg'));
  mask = path.join(dir, 'mask.png');
  writeFileSync(mask, await maskPng(96, 64, { x0: 48, y0: 32, x1: 96, y1: 64 }));
});
beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
});
afterEach(() => vi.restoreAllMocks());

const run = (...args: string[]) => main(args);

interface Summary {
  images: { candidateIndex: number; tokens: number[]; file: string; score: number | null }[];
  warnings: string[];
}

describe('tessera complete | edit | vary (tiny model)', () => {
  it('complete writes the kept images; their tokens are the library\'s for the same request', async () => {
    const out = path.join(dir, 'complete');
    const code = await run('complete', picture, 'a red star', '--keep-rows', '3', '--model', TINY_MODEL, '--candidates', '4', '--keep', '2', '--seed', '7', '--json', '--out', out);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as Summary;
    expect(summary.images).toHaveLength(2);
    expect(readdirSync(out)).toHaveLength(2);
    expect(stderr).toMatch(/warning: input image resized from 96x64 and centre-cropped to 64x64, converted from jpeg/);
    expect(summary.warnings.some((w) => w.startsWith('input image resized'))).toBe(true);
    // Each image says what it was made from.
    const meta = readImageMetadata(readFileSync(summary.images[0].file));
    expect(meta.tessera?.imagePrompt).toMatchObject({ mode: 'complete', keepRows: 3 });
    expect(meta.tessera?.imagePrompt?.sourceSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.parameters).toMatch(/Image prompt: complete 3 rows of [0-9a-f]{12}$/);
    // Part of the picture is the user's: IPTC's composite mark, not the purely generated one.
    expect(meta.digitalSourceType).toBe(COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA);
    const tessera = await Tessera.load({ model: TINY_MODEL });
    try {
      const image = await imagePromptFromBytes({ mode: 'complete', image: readFileSync(picture), keepRows: 3 }, tessera.manifest);
      const alone = await tessera.generate({ prompt: 'a red star', image, seed: 7, candidates: 4, keep: 2 });
      expect(summary.images.map((i) => [i.candidateIndex, i.tokens])).toEqual(alone.kept.map((c) => [c.index, Array.from(c.tokens)]));
    } finally {
      await tessera.dispose();
    }
  });

  it('edit keeps codes outside the mask; vary runs without text', async () => {
    const out = path.join(dir, 'edit');
    expect(await run('edit', picture, '--mask', mask, 'a blue circle', '--model', TINY_MODEL, '--candidates', '2', '--seed', '3', '--json', '--out', out)).toBe(0);
    const edit = JSON.parse(stdout) as Summary;
    stdout = '';
    const varyOut = path.join(dir, 'vary');
    expect(await run('vary', picture, '--keep-share', '0.25', '--model', TINY_MODEL, '--candidates', '3', '--keep', '3', '--seed', '3', '--json', '--out', varyOut)).toBe(0);
    const vary = JSON.parse(stdout) as Summary;
    expect(vary.images).toHaveLength(3);
    // Ranked by likeness to the source: scores descend.
    const scores = vary.images.map((i) => i.score!);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
    // The top-left 4x4 cells are outside the mask: both kept images agree there.
    const topLeft = (t: number[]) => t.filter((_, j) => Math.floor(j / 8) < 4 && j % 8 < 4);
    expect(topLeft(edit.images[0].tokens)).toEqual(topLeft(edit.images[1].tokens));
  });

  it('vary with a caption takes it as the prompt', async () => {
    const out = path.join(dir, 'caption');
    expect(await run('vary', picture, '--caption', 'a green square', '--model', TINY_MODEL, '--candidates', '2', '--seed', '1', '--out', out)).toBe(0);
    expect(stdout).toMatch(/^prompt: a green square/);
    expect(readdirSync(out).every((f) => f.startsWith('a-green-square-1-'))).toBe(true);
  });
});

describe('image prompt commands: bad input is one line with a code, and nothing written', () => {
  let big: string;
  let text: string;
  let smallMask: string;
  let noEncoder: string;
  beforeAll(async () => {
    big = path.join(dir, 'big.png');
    writeFileSync(big, Buffer.alloc(MAX_INPUT_BYTES + 10, 1));
    text = path.join(dir, 'notes.png');
    writeFileSync(text, 'this is not an image');
    smallMask = path.join(dir, 'small-mask.png');
    writeFileSync(smallMask, await maskPng(32, 32, { x0: 0, y0: 0, x1: 8, y1: 8 }));
    noEncoder = copyTinyModel();
    const file = path.join(noEncoder, 'manifest.json');
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.encoder = null;
    delete manifest.files['vae/encoder.onnx'];
    writeFileSync(file, JSON.stringify(manifest));
  });
  const cases: [string, () => string[], string, number][] = [
    ['missing image file', () => ['vary', path.join(dir, 'nope.png')], 'TESSERA_ERR_INPUT_FILE', 1],
    ['not an image', () => ['vary', text], 'TESSERA_ERR_INPUT_IMAGE', 1],
    ['oversized image', () => ['vary', big], 'TESSERA_ERR_INPUT_IMAGE_TOO_LARGE', 1],
    ['mask of the wrong size', () => ['edit', picture, '--mask', smallMask, 'a star'], 'TESSERA_ERR_MASK', 1],
    ['a jpeg as mask', () => ['edit', picture, '--mask', picture, 'a star'], 'TESSERA_ERR_MASK', 1],
    ['edit without a mask or transparency', () => ['edit', picture, 'a star'], 'TESSERA_ERR_MASK', 1],
    ['complete without --keep-rows', () => ['complete', picture, 'a star'], 'TESSERA_ERR_OPTION', 2],
    ['complete keeping every row', () => ['complete', picture, 'a star', '--keep-rows', '8'], 'TESSERA_ERR_OPTION', 2],
    ['complete without a prompt', () => ['complete', picture, '--keep-rows', '2'], 'TESSERA_ERR_PROMPT', 2],
    ['vary keeping everything', () => ['vary', picture, '--keep-share', '1'], 'TESSERA_ERR_OPTION', 2],
    ['two images', () => ['vary', picture, picture], 'TESSERA_ERR_OPTION', 2],
    ['a flag of another command', () => ['vary', picture, '--keep-rows', '2'], 'TESSERA_ERR_UNKNOWN_FLAG', 2],
    ['a package without an image encoder', () => ['vary', picture, '--model', noEncoder], 'TESSERA_ERR_NO_IMAGE_ENCODER', 1],
  ];
  for (const [name, args, code, exit] of cases) {
    it(`${name} -> ${code}, exit ${exit}`, async () => {
      const out = path.join(tempDir(), 'out');
      const argv = args();
      const status = await run(...argv, ...(argv.includes('--model') ? [] : ['--model', TINY_MODEL]), '--out', out);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(`[${code}]`);
      expect(status).toBe(exit);
      expect(existsSync(out)).toBe(false);
    });
  }
});

describe('pinned outputs on the shapes model', () => {
  it('complete, edit and vary of a fixed scene sample the recorded tokens', async () => {
    const scene = await renderScene({
      background: 'white',
      objects: [
        { shape: 'circle', color: 'red', size: 'large', x: 18, y: 17 },
        { shape: 'star', color: 'blue', size: 'small', x: 46, y: 46 },
      ],
    });
    const file = path.join(dir, 'scene.png');
    writeFileSync(file, await sharp(scene, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    const sceneMask = path.join(dir, 'scene-mask.png');
    writeFileSync(sceneMask, await maskPng(64, 64, { x0: 32, y0: 32, x1: 64, y1: 64 }));
    const tokensOf = async (...args: string[]) => {
      stdout = '';
      expect(await run(...args, '--model', DEFAULT_MODEL_DIR, '--candidates', '4', '--keep', '1', '--seed', '2026', '--json', '--out', path.join(dir, 'pinned'))).toBe(0);
      return (JSON.parse(stdout) as Summary).images[0].tokens.join(',');
    };
    const pinned = {
      complete: await tokensOf('complete', file, 'a large red circle above a small green square', '--keep-rows', '4'),
      edit: await tokensOf('edit', file, '--mask', sceneMask, 'a large red circle left of a small yellow heart'),
      vary: await tokensOf('vary', file),
    };
    expect(pinned).toEqual(PINNED);
  });
});

// Recorded from this implementation's first run (the model and seeds fixed): a change in
// the encoder, the forcing or the RNG rule shows here.
const PINNED = {
  complete: '954,587,237,855,880,181,181,192,247,573,889,745,615,181,181,181,587,889,889,237,216,181,181,181,715,745,403,496,678,181,181,181,569,678,784,275,192,181,181,181,543,535,181,192,181,181,181,181,32,364,117,753,181,181,181,181,703,943,117,680,181,181,181,192',
  edit: '954,587,237,855,880,181,181,192,247,573,889,745,615,181,181,181,587,889,889,237,216,181,181,181,715,745,403,496,678,181,181,181,557,678,695,275,192,991,900,62,192,181,181,192,991,443,338,106,181,181,181,181,166,221,634,738,192,181,181,181,192,546,845,662',
  vary: '192,181,237,855,880,181,181,192,247,108,108,745,357,181,181,181,587,108,889,237,841,181,181,181,616,745,403,391,933,181,181,181,557,678,695,275,619,680,678,357,181,181,181,1016,166,87,1010,17,181,181,181,181,426,856,538,675,192,181,181,181,181,680,17,192',
};
