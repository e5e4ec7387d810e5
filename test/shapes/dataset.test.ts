import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDataset } from '../../eval/shapes/dataset.js';
import { npyHeader, readNpyUint8 } from '../../eval/world/npy.js';
import { splitScene } from '../../eval/shapes/generate.js';
import { renderScene } from '../../eval/shapes/render.js';

describe('dataset writer', () => {
  it('writes .npy headers numpy accepts (64-byte aligned, v1.0)', () => {
    const header = npyHeader([10, 64, 64, 3]);
    expect(header.length % 64).toBe(0);
    expect(header.subarray(0, 8).toString('latin1')).toBe('\x93NUMPY\x01\x00');
    expect(header.toString('latin1')).toContain("'shape': (10, 64, 64, 3)");
  });

  it('writes shards of images and scenes plus meta.json, deterministically', async () => {
    const out = await mkdtemp(join(tmpdir(), 'shapes-'));
    try {
      const summary = await writeDataset({ count: 25, seed: 3, out, shardSize: 10 });
      expect(summary.shards).toBe(3);
      const meta = JSON.parse(await readFile(join(out, 'meta.json'), 'utf8'));
      expect(meta.count).toBe(25);
      expect(meta.shards.map((s: { count: number }) => s.count)).toEqual([10, 10, 5]);
      expect(meta.heldOutPairs.length).toBeGreaterThanOrEqual(6);
      const { shape, data } = readNpyUint8(await readFile(join(out, 'images-00001.npy')));
      expect(shape).toEqual([10, 64, 64, 3]);
      const lines = (await readFile(join(out, 'scenes-00001.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines).toHaveLength(10);
      // Row 3 of shard 1 is scene 13 of the stream.
      expect(lines[3]).toEqual(JSON.parse(JSON.stringify(splitScene('train', 3, 13))));
      const expected = await renderScene(splitScene('train', 3, 13).scene);
      expect(Buffer.from(data.subarray(3 * 12288, 4 * 12288)).equals(Buffer.from(expected))).toBe(true);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
