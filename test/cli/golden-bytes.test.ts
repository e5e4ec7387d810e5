import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { withoutFootprint } from '../helpers/png.js';
import { tempDir, TINY_MODEL } from '../helpers/tiny.js';

// sha256 of every file (less its tessera:footprint chunk, see withoutFootprint) a fixed-seed `tessera generate` wrote on the tiny fixture before
// the architecture refactor (issue 9, recorded at commit e9de962). The refactor changed
// no behaviour: the same request must still write exactly these bytes. Guidance, top-k
// and temperature are all set so the guided (twin-row) path and the processors are covered.
const BEFORE_REFACTOR: Record<string, string> = {
  'a-red-circle-left-of-a-blue-star-42-0.png': 'df765a42348c1d58f5d1876639ddabead514982e07e2ecf8dd907f54b1c7cd66',
  'a-red-circle-left-of-a-blue-star-42-3.png': '745fafe1f32d5d13183aecc8e3d7e2d3c7f3e69cb25cf83f5a9816f93c7879c3',
  'a-red-circle-left-of-a-blue-star-42-4.png': '81a92005a7aff139e72a988d2b277f2c7fa917ab91beba2ca2f833fdc65ea3cd',
  'a-red-circle-left-of-a-blue-star-42-grid.png': 'dd8c0291674211348e050935d2f70ab97c7283a78c6f3b8c44854c44bf391c0e',
};

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

it('a fixed-seed generate writes the same PNG bytes as before the refactor', async () => {
  const out = path.join(tempDir(), 'out');
  const code = await main([
    'generate', 'a red circle left of a blue star', '--model', TINY_MODEL,
    '--candidates', '6', '--keep', '3', '--seed', '42', '--guidance', '2', '--temperature', '0.9', '--top-k', '50',
    '--grid', '--quiet', '--out', out,
  ]);
  expect(code).toBe(0);
  const written = Object.fromEntries(
    readdirSync(out).sort().map((file) => [file, createHash('sha256').update(withoutFootprint(readFileSync(path.join(out, file)))).digest('hex')]),
  );
  expect(written).toEqual(BEFORE_REFACTOR);
});
