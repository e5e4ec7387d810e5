import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { runSearchCommand } from '../../src/cli/search.js';
import { listFolderImages } from '../../src/search/folder.js';
import { renderScene } from '../../eval/shapes/render.js';

let dir: string;

async function png(file: string, color: 'red' | 'blue' | 'green', shape: 'circle' | 'square' | 'triangle', x: number): Promise<void> {
  const rgb = await renderScene({ background: 'white', objects: [{ shape, color, size: 'large', x, y: 32 }] });
  writeFileSync(file, await sharp(Buffer.from(rgb), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
}

function record(index: number, prompt: string, files: (string | null)[]): string {
  return JSON.stringify({
    format: 'tessera-batch-record',
    version: 1,
    index,
    spec: { prompt, model: 'tessera-shapes-v1' },
    candidates: files.map((file, i) => ({ index: i, rank: i + 1, score: 0.3, kept: file !== null, file })),
    grid: null,
    warnings: [],
    files: {},
  });
}

async function run(argv: string[]): Promise<{ code: number; text: string }> {
  let text = '';
  const code = await runSearchCommand(argv, { write: (s) => (text += s) });
  return { code, text };
}

async function failure(argv: string[]): Promise<string | undefined> {
  try {
    await run(argv);
  } catch (error) {
    return isTesseraError(error) ? error.code : String(error);
  }
  return undefined;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tessera-search-folder-'));
  mkdirSync(path.join(dir, 'records'));
  await png(path.join(dir, '0000-blue-square-r1-c0.png'), 'blue', 'square', 32);
  await png(path.join(dir, '0001-green-triangle-r1-c2.png'), 'green', 'triangle', 30);
  await png(path.join(dir, '0002-red-circle-r1-c1.png'), 'red', 'circle', 32);
  await png(path.join(dir, '0002-red-circle-r2-c0.png'), 'red', 'circle', 26);
  writeFileSync(path.join(dir, 'records/0000.json'), record(0, 'a blue square', ['0000-blue-square-r1-c0.png', null]));
  writeFileSync(path.join(dir, 'records/0001.json'), record(1, 'a green triangle', [null, null, '0001-green-triangle-r1-c2.png']));
  writeFileSync(path.join(dir, 'records/0002.json'), record(2, 'a red circle', ['0002-red-circle-r2-c0.png', '0002-red-circle-r1-c1.png']));
  writeFileSync(path.join(dir, 'records/0003.json'), '{"format": "something else"}');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tessera search over a batch folder', () => {
  it('lists the kept images of the records', () => {
    expect(listFolderImages(dir).map((i) => [i.id, i.prompt])).toEqual([
      ['0000-blue-square-r1-c0', 'a blue square'],
      ['0001-green-triangle-r1-c2', 'a green triangle'],
      ['0002-red-circle-r2-c0', 'a red circle'],
      ['0002-red-circle-r1-c1', 'a red circle'],
    ]);
  });

  it('indexes the folder and ranks by meaning; "more like this" finds the other red circle', async () => {
    const { code, text } = await run([dir, '--query', 'a red circle', '--json']);
    expect(code).toBe(0);
    const page = JSON.parse(text) as { total: number; data: { id: string; score: number; source: string }[] };
    expect(page.total).toBe(4);
    expect(new Set(page.data.slice(0, 2).map((h) => h.id))).toEqual(new Set(['0002-red-circle-r2-c0', '0002-red-circle-r1-c1']));
    const like = JSON.parse((await run([dir, '--like', '0002-red-circle-r1-c1', '--json', '--no-update'])).text) as typeof page;
    expect(like.total).toBe(3);
    expect(like.data[0]!.id).toBe('0002-red-circle-r2-c0');
    const plain = (await run([dir, '--like', '0002-red-circle-r1-c1', '--limit', '1', '--no-update'])).text;
    expect(plain).toMatch(/^ {3}1 {2}\d\.\d{4} {2}0002-red-circle-r2-c0 {2}"a red circle" {2}0002-red-circle-r2-c0\.png\n1-1 of 3 \(next: --offset 1\)\n$/);
  });

  it('drops images whose record no longer keeps them', async () => {
    writeFileSync(path.join(dir, 'records/0000.json'), record(0, 'a blue square', [null, null]));
    const page = JSON.parse((await run([dir, '--query', 'a blue square', '--json'])).text) as { total: number; data: { id: string }[] };
    expect(page.total).toBe(3);
    expect(page.data.map((h) => h.id)).not.toContain('0000-blue-square-r1-c0');
  });

  it('reports bad folders and parameters with their codes', async () => {
    expect(await failure([])).toBe('TESSERA_ERR_OPTION');
    expect(await failure([dir, '--query', 'a', '--like', 'b'])).toBe('TESSERA_ERR_SEARCH');
    expect(await failure([dir, '--query', 'a', '--limit', '500'])).toBe('TESSERA_ERR_SEARCH');
    expect(await failure([dir, '--like', 'nope', '--no-update'])).toBe('TESSERA_ERR_SEARCH_NOT_FOUND');
    expect(await failure([dir, '--colour', 'red'])).toBe('TESSERA_ERR_UNKNOWN_FLAG');
    expect(await failure([path.join(dir, 'records'), '--query', 'x'])).toBe('TESSERA_ERR_INPUT_FILE');
  });
});

describe('server data folders', () => {
  it('lists the images of results/ID/record.json', () => {
    const server = mkdtempSync(path.join(tmpdir(), 'tessera-search-server-'));
    try {
      const id = '0b7f3c1e-2a4d-4e5f-8a9b-0c1d2e3f4a5b';
      mkdirSync(path.join(server, 'results', id), { recursive: true });
      writeFileSync(path.join(server, 'results', id, 'record.json'), JSON.stringify({ id, created: 1_700_000_000, prompt: 'a star', model: 'm', images: [{ file: 'image-0.png' }, { file: 'image-1.png' }] }));
      expect(listFolderImages(server)).toEqual([
        { id: `${id}/image-0.png`, prompt: 'a star', model: 'm', created: 1_700_000_000, source: `results/${id}/image-0.png`, file: path.join(server, 'results', id, 'image-0.png') },
        { id: `${id}/image-1.png`, prompt: 'a star', model: 'm', created: 1_700_000_000, source: `results/${id}/image-1.png`, file: path.join(server, 'results', id, 'image-1.png') },
      ]);
    } finally {
      rmSync(server, { recursive: true, force: true });
    }
  });
});
