import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipReranker } from '../../src/rerank/clip-reranker.js';
import { SearchIndex } from '../../src/search/index.js';
import { renderScene } from '../../eval/shapes/render.js';
import type { Scene } from '../../eval/shapes/world.js';

/**
 * Search with the shipped CLIP (models/default/clip) over images of the shapes world:
 * the ranking must come from meaning, not from ids or insertion order.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const clipDir = path.join(here, '../../models/default/clip');

function scene(color: 'red' | 'blue' | 'green', shape: 'circle' | 'square' | 'triangle', x: number, y: number): Scene {
  return { background: 'white', objects: [{ shape, color, size: 'large', x, y }] };
}

// Unrelated images first, so that insertion order would put them on top.
const scenes: { id: string; prompt: string; scene: Scene }[] = [
  { id: 'blue-square', prompt: 'a blue square', scene: scene('blue', 'square', 32, 32) },
  { id: 'green-triangle', prompt: 'a green triangle', scene: scene('green', 'triangle', 30, 34) },
  { id: 'blue-triangle', prompt: 'a blue triangle', scene: scene('blue', 'triangle', 34, 30) },
  { id: 'red-circle-a', prompt: 'a red circle', scene: scene('red', 'circle', 32, 32) },
  { id: 'red-circle-b', prompt: 'a red circle', scene: scene('red', 'circle', 26, 36) },
  { id: 'red-circle-a-copy', prompt: 'a red circle', scene: scene('red', 'circle', 32, 32) },
];

let dir: string;
let index: SearchIndex;
let clip: ClipReranker;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-search-shapes-'));
  clip = await ClipReranker.load(clipDir, 'cpu');
  const images = await Promise.all(scenes.map(async (s) => ({ width: 64, height: 64, data: await renderScene(s.scene) })));
  const embeddings = await clip.embedImages(images);
  expect(embeddings[0]!.length).toBe(128); // projection_dim of the shipped CLIP
  index = SearchIndex.open(path.join(dir, 'search.sqlite'), { dim: embeddings[0]!.length, space: 'tessera-shapes-v1' });
  index.insertMany(scenes.map((s, i) => ({ record: { id: s.id, prompt: s.prompt, model: 'tessera-shapes-v1', created: 1_700_000_000 + i, source: `${s.id}.png` }, embedding: embeddings[i]! })));
});

afterAll(() => {
  index?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('search over shapes-world images with the shipped CLIP', () => {
  it('"more like this" ranks the exact duplicate first and the same-prompt image above unrelated ones', () => {
    const page = index.moreLike('red-circle-a', { offset: 0, limit: 10 });
    const ids = page.data.map((h) => h.id);
    expect(ids[0]).toBe('red-circle-a-copy');
    expect(page.data[0]!.score).toBeCloseTo(1, 4);
    expect(ids[1]).toBe('red-circle-b');
    expect(ids).not.toContain('red-circle-a');
  });

  it('a text query ranks the images of that prompt above the others', async () => {
    const [text] = await clip.embedText(['a red circle']);
    const ids = index.query(text!, { offset: 0, limit: 10 }).data.map((h) => h.id);
    expect(new Set(ids.slice(0, 3))).toEqual(new Set(['red-circle-a', 'red-circle-b', 'red-circle-a-copy']));
    const [blue] = await clip.embedText(['a blue square']);
    expect(index.query(blue!, { offset: 0, limit: 1 }).data[0]!.id).toBe('blue-square');
  });
});
