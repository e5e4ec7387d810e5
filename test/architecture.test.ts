import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/tiny.js';

/**
 * The folder layout is the architecture (docs/architecture.md): every module imports only
 * from its own layer or the layers below it. Rank of each top-level entry of src/, low to high.
 */
const LAYERS: Record<string, number> = {
  'types.ts': 0,
  'errors.ts': 0,
  util: 0,
  model: 1,
  text: 2,
  generator: 2,
  sampler: 2,
  decoder: 2,
  rerank: 2,
  image: 2,
  output: 3,
  pipeline: 4,
  cli: 5,
  batch: 5,
  server: 5,
  search: 5,
  queue: 5,
  footprint: 3,
  carbon: 3,
  'index.ts': 6,
};

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) return sourceFiles(full);
    return /\.(ts|js)$/.test(name) && !full.includes(`${path.sep}public${path.sep}`) ? [full] : [];
  });
}

const SRC = path.join(ROOT, 'src');
// Imports name the compiled file (`../errors.js`); the layer table names sources.
const layerOf = (file: string): string => path.relative(SRC, file).split(path.sep)[0].replace(/\.js$/, '.ts');

/** The files `file` imports by relative path: static imports and re-exports, type-only ones included, and dynamic import(). */
function relativeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((match) => path.resolve(path.dirname(file), match[1]));
}

describe('layers', () => {
  const files = sourceFiles(SRC);

  it('every top-level folder of src/ has a layer', () => {
    const unknown = [...new Set(files.map(layerOf))].filter((top) => LAYERS[top] === undefined);
    expect(unknown).toEqual([]);
  });

  it('no module imports a layer above its own', () => {
    const uphill: string[] = [];
    for (const file of files) {
      for (const target of relativeImports(file)) {
        if (!target.startsWith(SRC + path.sep)) continue;
        const from = layerOf(file);
        const to = layerOf(target);
        if ((LAYERS[to] ?? 99) > (LAYERS[from] ?? -1)) uphill.push(`${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
      }
    }
    expect(uphill).toEqual([]);
  });

  it('the product imports nothing from outside src/ (the worlds, judges and eval harness live in eval/)', () => {
    const outside = files.flatMap((file) => relativeImports(file).filter((target) => !target.startsWith(SRC + path.sep))
      .map((target) => `${path.relative(SRC, file)} -> ${path.relative(ROOT, target)}`));
    expect(outside).toEqual([]);
  });
});
