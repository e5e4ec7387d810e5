import { describe, expect, it } from 'vitest';
import { decodeBatchSize, DECODE_PIXELS_PER_CALL, TokenDecoder } from '../../src/decoder/token-decoder.js';
import type { ort } from '../../src/model/runtime.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { TINY_MODEL } from '../helpers/tiny.js';

describe('VQ decode batches', () => {
  it('hold a bounded number of pixels per call: 64 small images, 4 of DALL·E Mini size, at least one', () => {
    expect(decodeBatchSize(64)).toBe(64);
    expect(decodeBatchSize(256)).toBe(4);
    expect(decodeBatchSize(1024)).toBe(1);
    for (const size of [16, 64, 100, 256, 512]) expect(decodeBatchSize(size) * size * size).toBeLessThanOrEqual(Math.max(DECODE_PIXELS_PER_CALL, size * size));
  });

  it('give the same images whatever the batch size', async () => {
    const model = await loadModel({ model: TINY_MODEL, rerank: false });
    const grids = Array.from({ length: 7 }, (_, g) => Int32Array.from({ length: 64 }, (_, i) => (i * 13 + g * 5) % 64));
    const whole = await model.decoder.decode(grids);
    const session = (model.decoder as unknown as { decoder: ort.InferenceSession }).decoder;
    const small = new TokenDecoder(model.manifest, session, null, 3);
    expect(small.batchSize).toBe(3);
    const chunked = await small.decode(grids);
    expect(chunked.map((image) => Buffer.from(image.data).toString('base64'))).toEqual(whole.map((image) => Buffer.from(image.data).toString('base64')));
  });
});
