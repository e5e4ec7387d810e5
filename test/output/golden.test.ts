/**
 * `tessera generate` on the tiny fixture with a fixed seed writes the same PNG bytes as
 * before the result writer was unified (hashes recorded at e9de962), less the
 * run's own measurement (the tessera:footprint chunk, test/helpers/png.ts). The grid is not
 * pinned: its labels depend on the fonts installed.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { tempDir, TINY_MODEL } from '../helpers/tiny.js';
import { withoutFootprint } from '../helpers/png.js';

beforeEach(() => {
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
});
afterEach(() => {
  vi.restoreAllMocks();
});

const PINNED: [string[], Record<string, string>][] = [
  [
    ['a red circle', '--candidates', '4', '--keep', '2', '--seed', '7', '--grid'],
    {
      'a-red-circle-7-2.png': '0c776a5ca89927c3e820720b100d33eb96d18489a2631f80f275bb5327ea8ad9',
      'a-red-circle-7-3.png': '92ab7d00c7d6b83c51e84f84a3b8bcf229809fc8c2a077f829fbb6c04139b6a7',
    },
  ],
  [
    ['a green triangle', '--candidates', '2', '--keep', '1', '--seed', '5', '--guidance', '3', '--negative', 'red'],
    { 'a-green-triangle-5-1.png': 'f12edab21cb5e164ebd355910a0a2c7fba0963f68df8dc6fa161e5d37483b13a' },
  ],
];

describe('tessera generate writes pinned bytes', () => {
  for (const [args, hashes] of PINNED) {
    it(`${args[0]} (seed ${args[args.indexOf('--seed') + 1]})`, async () => {
      const out = path.join(tempDir(), 'out');
      expect(await main(['generate', ...args, '--model', TINY_MODEL, '--out', out, '--quiet'])).toBe(0);
      const kept = readdirSync(out).filter((f) => !f.endsWith('-grid.png')).sort();
      expect(kept).toEqual(Object.keys(hashes).sort());
      for (const name of kept) expect([name, createHash('sha256').update(withoutFootprint(readFileSync(path.join(out, name)))).digest('hex')]).toEqual([name, hashes[name]]);
    });
  }
});
