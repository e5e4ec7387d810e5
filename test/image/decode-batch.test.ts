import { describe, expect, it } from 'vitest';
import { vqBatchSize, VQ_PIXELS_PER_CALL, VqCodec } from '../../src/vq/vq-codec.js';
import type { ort } from '../../src/model/runtime.js';
import { loadModel } from '../../src/pipeline/loader.js';
import { TINY_MODEL } from '../helpers/tiny.js';

describe('VQ decode batches', () => {
  it('hold a bounded number of pixels per call: 64 small images, 4 of DALL·E Mini size, at least one', () => {
    expect(vqBatchSize(64)).toBe(64);
    expect(vqBatchSize(256)).toBe(4);
    expect(vqBatchSize(1024)).toBe(1);
    for (const size of [16, 64, 100, 256, 512]) expect(vqBatchSize(size) * size * size).toBeLessThanOrEqual(Math.max(VQ_PIXELS_PER_CALL, size * size));
  });

  it('give the same images whatever the batch size', async () => {
    const model = await loadModel({ model: TINY_MODEL, rerank: false });
    const grids = Array.from({ length: 7 }, (_, g) => Int32Array.from({ length: 64 }, (_, i) => (i * 13 + g * 5) % 64));
    const whole = await model.vq.toPixels(grids);
    const session = (model.vq as unknown as { decoderGraph: ort.InferenceSession }).decoderGraph;
    const small = new VqCodec(model.manifest, session, null, 3);
    expect(small.batchSize).toBe(3);
    const chunked = await small.toPixels(grids);
    expect(chunked.map((image) => Buffer.from(image.data).toString('base64'))).toEqual(whole.map((image) => Buffer.from(image.data).toString('base64')));
  });
});
