/**
 * A CLIP in transformers.js's published layout (Xenova/clip-vit-base-patch32) through the
 * unchanged reranker: test/fixtures/tiny-clip is a random-weight CLIP of the real ViT-B/32
 * architecture (patch 32 on 224x224), written with reference outputs by scripts/make-tiny-clip.py.
 */
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Tensor, type PreTrainedModel, type PreTrainedTokenizer } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { checkClipDir, ClipReranker } from '../../src/rerank/clip-reranker.js';
import type { RgbImage } from '../../src/types.js';
import { maxAbsDiff, ROOT, tempDir } from '../helpers/tiny.js';

const TINY_CLIP = path.join(ROOT, 'test/fixtures/tiny-clip');
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

interface ClipReference {
  captions: { text: string; ids: number[] }[];
  text_embeds: number[][];
  images: number;
  image_embeds: number[][];
}
const reference = JSON.parse(readFileSync(path.join(TINY_CLIP, 'reference.json'), 'utf8')) as ClipReference;
const json = (file: string) => JSON.parse(readFileSync(path.join(TINY_CLIP, file), 'utf8'));

/** The script's reference pixels: sin(0.001 * i + 0.5 * image) * 2 over each image's flat index. */
function referencePixels(images: number): Float32Array {
  const size = 3 * 224 * 224;
  const data = new Float32Array(images * size);
  for (let k = 0; k < images; k++) for (let i = 0; i < size; i++) data[k * size + i] = Math.sin(0.001 * i + 0.5 * k) * 2;
  return data;
}

function solid(rgb: [number, number, number], size = 64): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set(rgb, i * 3);
  return { width: size, height: size, data };
}

function stripes(size = 64): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) data.set(Math.floor(i / 4) % 2 === 0 ? [250, 20, 30] : [10, 200, 90], i * 3);
  return { width: size, height: size, data };
}

/** The reranker's own transformers.js objects (private fields, read for inspection only). */
interface Internals {
  tokenizer: PreTrainedTokenizer;
  visionModel: PreTrainedModel & { _call: (inputs: Record<string, Tensor>) => Promise<unknown> };
}

let reranker: ClipReranker;
beforeAll(async () => {
  reranker = await ClipReranker.load(TINY_CLIP, 'cpu');
});
afterAll(async () => {
  await reranker?.dispose();
});

describe('tiny-clip fixture: the published layout', () => {
  it('has the file names, config keys and 224x224 CLIP preprocessing of clip-vit-base-patch32', () => {
    expect(() => checkClipDir(TINY_CLIP, 'TESSERA_ERR_OPTION', 'clip')).not.toThrow();
    const config = json('config.json');
    expect(config.model_type).toBe('clip');
    expect(config.projection_dim).toBeGreaterThan(0);
    expect(config.vision_config).toMatchObject({ model_type: 'clip_vision_model', image_size: 224, patch_size: 32, num_channels: 3, hidden_act: 'quick_gelu' });
    expect(config.text_config).toMatchObject({ model_type: 'clip_text_model', max_position_embeddings: 77, hidden_act: 'quick_gelu' });
    for (const key of ['hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'layer_norm_eps', 'projection_dim']) {
      expect(config.vision_config[key], key).toBeGreaterThan(0);
      expect(config.text_config[key], key).toBeGreaterThan(0);
    }
    // EOS pooling by argmax of the ids needs <|endoftext|> to be the largest id, as in the original.
    expect(config.text_config.eos_token_id).toBe(config.text_config.vocab_size - 1);
    const pre = json('preprocessor_config.json');
    expect(pre).toMatchObject({ size: { shortest_edge: 224 }, crop_size: { height: 224, width: 224 }, do_center_crop: true, resample: 3, image_mean: CLIP_MEAN, image_std: CLIP_STD });
    const tok = json('tokenizer.json');
    expect(tok.model).toMatchObject({ type: 'BPE', end_of_word_suffix: '</w>', unk_token: '<|endoftext|>' });
    expect(tok.model.merges.length).toBeGreaterThan(50);
    expect(tok.post_processor).toMatchObject({ type: 'RobertaProcessing', cls: ['<|startoftext|>', expect.any(Number)], sep: ['<|endoftext|>', expect.any(Number)] });
    expect(tok.pre_tokenizer.pretokenizers.map((p: { type: string }) => p.type)).toEqual(['Split', 'ByteLevel']);
    expect(json('tokenizer_config.json').tokenizer_class).toBe('CLIPTokenizer');
  });
});

describe('the reranker on a real-architecture CLIP', () => {
  it('tokenizes as the script\'s own CLIP BPE encoder (start/end tokens, merges, punctuation, unknown words)', () => {
    const { tokenizer } = reranker as unknown as Internals;
    for (const { text, ids } of reference.captions) {
      expect(Array.from(tokenizer(text).input_ids.data as BigInt64Array, Number), text).toEqual(ids);
    }
  });

  it('gives PyTorch\'s text embeddings within 1e-4 (padded batch, causal mask, EOS pooling)', async () => {
    const embeds = await reranker.embedText(reference.captions.map((c) => c.text));
    expect(embeds).toHaveLength(reference.text_embeds.length);
    embeds.forEach((row, i) => expect(maxAbsDiff(row, reference.text_embeds[i])).toBeLessThan(1e-4));
  });

  it('gives PyTorch\'s image embeddings within 1e-4 on the same pixel values', async () => {
    const { visionModel } = reranker as unknown as Internals;
    const pixel_values = new Tensor('float32', referencePixels(reference.images), [reference.images, 3, 224, 224]);
    const { image_embeds } = (await visionModel({ pixel_values })) as { image_embeds: Tensor };
    expect(image_embeds.dims).toEqual([reference.images, reference.image_embeds[0].length]);
    const data = image_embeds.data as Float32Array;
    const width = reference.image_embeds[0].length;
    reference.image_embeds.forEach((row, i) => expect(maxAbsDiff(data.subarray(i * width, (i + 1) * width), row)).toBeLessThan(1e-4));
  });

  it('scores 64x64 candidates through the 224x224 CLIP preprocessing', async () => {
    const { visionModel } = reranker as unknown as Internals;
    const seen: number[][] = [];
    let firstPixels: Float32Array | null = null;
    const original = visionModel._call.bind(visionModel);
    const spy = vi.spyOn(visionModel, '_call').mockImplementation(async (inputs: Record<string, Tensor>) => {
      seen.push(inputs.pixel_values.dims as number[]);
      firstPixels ??= (inputs.pixel_values.data as Float32Array).slice();
      return original(inputs);
    });
    const images = [solid([255, 0, 128]), stripes(), solid([20, 40, 60])];
    const scores = await reranker.score('a red circle', images);
    spy.mockRestore();
    expect(seen).toEqual([[3, 3, 224, 224]]);
    // A solid image stays solid through resize and crop: each channel is (v / 255 - mean) / std.
    // (transformers.js resizes with sharp's affine bicubic, which darkens the last row and
    // column when upscaling 64 -> 224; the test reads all but an 8-pixel border.)
    const pixels = firstPixels as unknown as Float32Array;
    const plane = 224 * 224;
    [255, 0, 128].forEach((v, c) => {
      const expected = (v / 255 - CLIP_MEAN[c]) / CLIP_STD[c];
      let worst = 0;
      for (let y = 8; y < 216; y++) for (let x = 8; x < 216; x++) worst = Math.max(worst, Math.abs(pixels[c * plane + y * 224 + x] - expected));
      expect(worst, `channel ${c}`).toBeLessThan(1e-3);
    });
    expect(scores).toHaveLength(3);
    for (const s of scores) expect(s >= -1 && s <= 1).toBe(true);
    expect(new Set(scores.map((s) => s.toFixed(6))).size).toBe(3);
  });
});

describe('checkClipDir', () => {
  it('names a missing folder, and a folder that lacks a file, with the code it is given', () => {
    const missing = path.join(tempDir(), 'nowhere');
    const caught = (fn: () => void) => {
      try {
        fn();
      } catch (error) {
        return error;
      }
      return null;
    };
    const a = caught(() => checkClipDir(missing, 'TESSERA_ERR_OPTION', 'clip'));
    expect(isTesseraError(a, 'TESSERA_ERR_OPTION')).toBe(true);
    expect((a as Error).message).toContain(missing);
    const partial = path.join(tempDir(), 'clip');
    cpSync(TINY_CLIP, partial, { recursive: true });
    rmSync(path.join(partial, 'onnx/text_model.onnx'));
    const b = caught(() => checkClipDir(partial, 'TESSERA_ERR_MODEL_FILE', 'model'));
    expect(isTesseraError(b, 'TESSERA_ERR_MODEL_FILE')).toBe(true);
    expect((b as Error).message).toContain('onnx/text_model.onnx');
  });
});
