import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AutoProcessor, CLIPImageProcessor, env, ImageProcessor, Processor, RawImage, type Tensor } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { renderScene } from '../../eval/shapes/render.js';
import { COLOR_NAMES, SHAPES } from '../../eval/shapes/world.js';
import { ClipReranker, CLIP_SESSION, cosine } from '../../src/rerank/clip-reranker.js';
import { directPixels, pixelValues } from '../../src/rerank/pixel-values.js';
import type { RgbImage } from '../../src/types.js';
import { ROOT } from '../helpers/tiny.js';

// The direct pixel path (issue 27): candidates already at CLIP's input size skip
// transformers.js's processor; the tensor must be the processor's own, bit for bit.
const SHIPPED_CLIP = path.join(ROOT, 'models/default/clip');
const TINY_CLIP = path.join(ROOT, 'test/fixtures/tiny-clip');

/** Deterministic pseudo-random RGB bytes (every byte value occurs). */
function noise(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    data[i] = state & 255;
  }
  return { width, height, data };
}

async function processorOf(clipDir: string): Promise<Processor> {
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(clipDir);
  return AutoProcessor.from_pretrained(path.basename(clipDir), { local_files_only: true });
}

async function viaProcessor(processor: Processor, images: readonly RgbImage[]): Promise<Tensor> {
  const raw = images.map((image) => new RawImage(new Uint8ClampedArray(image.data), image.width, image.height, 3));
  return ((await processor(raw)) as { pixel_values: Tensor }).pixel_values;
}

function mismatches(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let count = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) count++;
  return count;
}

const imageProcessor = (config: Record<string, unknown>) => {
  const base = JSON.parse(readFileSync(path.join(SHIPPED_CLIP, 'preprocessor_config.json'), 'utf8'));
  return new Processor({}, { image_processor: new CLIPImageProcessor({ ...base, ...config }) }, null);
};

describe('directPixels / pixelValues', () => {
  it("builds the processor's exact tensor where resize and crop are the identity (shipped 64x64, tiny-clip 224x224 with CLIP's own mean/std)", async () => {
    for (const [clipDir, side] of [[SHIPPED_CLIP, 64], [TINY_CLIP, 224]] as const) {
      const processor = await processorOf(clipDir);
      const images = [noise(side, side, 1), noise(side, side, 2), noise(side, side, 3)];
      const direct = directPixels(processor, side, side);
      expect(direct, clipDir).not.toBeNull();
      const expected = await viaProcessor(processor, images);
      expect(expected.dims).toEqual([3, 3, side, side]); // [N, 3, H, W]
      expect(mismatches(pixelValues(images, direct!), expected.data as Float32Array), clipDir).toBe(0);
    }
  }, 60_000);

  it('refuses where the processor would resample, crop, pad or flip', async () => {
    const shipped = await processorOf(SHIPPED_CLIP);
    expect(directPixels(shipped, 32, 32)).toBeNull(); // resize up to 64
    expect(directPixels(shipped, 80, 64)).toBeNull(); // resize keeps 80x64, the crop cuts it
    expect(directPixels(shipped, 128, 128)).toBeNull(); // resize down
    expect(directPixels(await processorOf(TINY_CLIP), 64, 64)).toBeNull();
    expect(directPixels(imageProcessor({}), 64, 64)).not.toBeNull();
    expect(directPixels(imageProcessor({ crop_size: { height: 56, width: 56 } }), 64, 64)).toBeNull();
    expect(directPixels(imageProcessor({ do_pad: true, pad_size: { width: 64, height: 64 } }), 64, 64)).toBeNull();
    expect(directPixels(imageProcessor({ do_flip_channel_order: true }), 64, 64)).toBeNull();
    expect(directPixels(imageProcessor({ do_thumbnail: true }), 64, 64)).toBeNull();
    expect(directPixels(imageProcessor({ image_mean: [0.5, 0.5] }), 64, 64)).toBeNull();
    // A subclass may preprocess differently: only the plain code is known to be the identity.
    class Custom extends CLIPImageProcessor {
      override async preprocess(...args: Parameters<CLIPImageProcessor['preprocess']>) {
        return super.preprocess(...args);
      }
    }
    const base = JSON.parse(readFileSync(path.join(SHIPPED_CLIP, 'preprocessor_config.json'), 'utf8'));
    expect(directPixels(new Processor({}, { image_processor: new Custom(base) }, null), 64, 64)).toBeNull();
  });

  it('matches the processor with no rescale or normalize, and refuses an image of another size', async () => {
    const processor = imageProcessor({ do_rescale: false, do_normalize: false });
    const images = [noise(64, 64, 9)];
    const expected = (await viaProcessor(processor, images)).data as Float32Array;
    expect(mismatches(pixelValues(images, directPixels(processor, 64, 64)!), expected)).toBe(0);
    expect(() => pixelValues([noise(32, 32, 1)], directPixels(processor, 64, 64)!)).toThrow(RangeError);
  });
});

describe('ClipReranker: direct pixels against the processor', () => {
  let clip: ClipReranker;
  let rendered: RgbImage[];
  beforeAll(async () => {
    clip = await ClipReranker.load(SHIPPED_CLIP, 'cpu');
    rendered = [];
    for (let i = 0; i < 70; i++) {
      const scene = { background: 'white' as const, objects: [{ shape: SHAPES[i % SHAPES.length], color: COLOR_NAMES[i % COLOR_NAMES.length], size: i % 2 === 0 ? ('small' as const) : ('large' as const), x: 20 + (i % 4) * 8, y: 20 + (i % 3) * 10 }] };
      rendered.push({ width: 64, height: 64, data: await renderScene(scene) });
    }
  }, 60_000);
  afterAll(async () => clip?.dispose());

  it('gives the same scores (1e-5) and the same ranks for 70 rendered candidates (two vision batches)', async () => {
    const [text] = await clip.embedText(['a small red star']);
    // Spying on the base class keeps directPixels' check (the instance's preprocess is still ImageProcessor's).
    const preprocess = vi.spyOn(ImageProcessor.prototype, 'preprocess');
    const direct = (await clip.embedImages(rendered)).map((e) => cosine(text, e));
    expect(preprocess).not.toHaveBeenCalled(); // the direct path ran
    const processed = (await clip.embedImages(rendered, 'processor')).map((e) => cosine(text, e));
    expect(preprocess).toHaveBeenCalledTimes(rendered.length);
    preprocess.mockRestore();
    direct.forEach((s, i) => expect(Math.abs(s - processed[i])).toBeLessThan(1e-5));
    const rank = (s: number[]) => [...s.keys()].sort((a, b) => s[b] - s[a] || a - b);
    expect(rank(direct)).toEqual(rank(processed));
  }, 60_000);

  it('falls back to the processor for other sizes and mixed batches (same embeddings either way)', async () => {
    const mixed = [rendered[0], noise(80, 64, 4), noise(32, 32, 5)];
    const preprocess = vi.spyOn(ImageProcessor.prototype, 'preprocess');
    const a = await clip.embedImages(mixed);
    expect(preprocess).toHaveBeenCalledTimes(mixed.length); // not the direct path
    preprocess.mockRestore();
    const b = await clip.embedImages(mixed, 'processor');
    a.forEach((e, i) => expect(cosine(e, b[i])).toBeGreaterThan(1 - 1e-6));
  }, 60_000);

  it('runs its CLIP sessions with the memory pattern off (the measured first-run setting)', () => {
    expect(CLIP_SESSION).toEqual({ enableMemPattern: false, enableCpuMemArena: true });
  });
});
