import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { INDEX_FILE, listFolderImages } from '../../src/search/folder.js';
import { SearchIndex } from '../../src/search/index.js';
import { embeddingSpace } from '../../src/search/space.js';
import { readManifest } from '../../src/model/manifest.js';
import { tempDir, TINY_MODEL, writeText } from './helpers.js';

let stdout = '';
beforeEach(() => {
  stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

describe('a batch folder is searchable as it is written', () => {
  it('the runner stores every kept image\'s rerank embedding; `tessera search` finds them without embedding anything', async () => {
    const dir = tempDir('batch-search');
    const prompts = writeText(dir, 'p.txt', 'a red circle\ntwo blue squares\na green star\n');
    const out = path.join(dir, 'out');
    expect(await main(['batch', prompts, '--out', out, '--model', TINY_MODEL, '--candidates', '3', '--keep', '2', '--seed', '5', '--quiet'])).toBe(0);
    const kept = listFolderImages(out);
    expect(kept).toHaveLength(6);
    const space = embeddingSpace(TINY_MODEL, readManifest(TINY_MODEL))!;
    const index = SearchIndex.open(path.join(out, INDEX_FILE), { dim: space.dim, space: space.space });
    expect(index.ids().sort()).toEqual(kept.map((k) => k.id).sort());
    index.close();
    // --no-update: the index as the runner left it, nothing embedded.
    stdout = '';
    expect(await main(['search', out, '--like', kept[0].id, '--no-update', '--model', TINY_MODEL, '--json'])).toBe(0);
    const page = JSON.parse(stdout) as { total: number; data: { id: string; score: number; source: string }[] };
    expect(page.total).toBe(5);
    expect(page.data.map((d) => d.id)).not.toContain(kept[0].id);
    const scores = page.data.map((d) => d.score);
    expect([...scores].sort((a, b) => b - a)).toEqual(scores);
  });
});
