import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/tiny.js';

/**
 * The folder layout is the architecture (docs/architecture.md): every module imports only
 * from its own layer or the layers below it. Rank of each top-level entry of src/, low to high.
 * The faces stand apart, one above the other: the inference child and search serve them;
 * server and batch are the two ways work arrives; the queue carries either to remote
 * workers (it implements batch's executor and the inference seam); src/cli/ is the one
 * composition root, where every command's entry wires the layers below it.
 */
const LAYERS: Record<string, number> = {
  'types.ts': 0,
  'errors.ts': 0,
  util: 0,
  model: 1,
  text: 2,
  generator: 2,
  sampler: 2,
  vq: 2,
  rerank: 2,
  image: 2,
  output: 3,
  footprint: 3,
  carbon: 3,
  pipeline: 4,
  inference: 5,
  search: 5,
  hub: 5,
  server: 6,
  batch: 6,
  queue: 7,
  cli: 8,
  'index.ts': 9,
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

/** Every relative import of `files` (static, re-exports, type-only, dynamic import()), as [from, to] files, inside src/ or not. */
function importsOf(files: readonly string[]): [string, string][] {
  const edges: [string, string][] = [];
  for (const file of files) {
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
      edges.push([file, path.resolve(path.dirname(file), match[1]).replace(/\.js$/, '.ts')]);
    }
  }
  return edges;
}

const insideSrc = (target: string): boolean => target.startsWith(SRC + path.sep);

/** The strongly connected parts of more than one node (Tarjan), each sorted: the import circles. */
function circles(edges: readonly [string, string][]): string[][] {
  const next = new Map<string, string[]>();
  for (const [from, to] of edges) {
    if (from === to) continue;
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const to of next.get(node)!) {
      if (!index.has(to)) {
        visit(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) === index.get(node)) {
      const part: string[] = [];
      let top: string;
      do {
        top = stack.pop()!;
        onStack.delete(top);
        part.push(top);
      } while (top !== node);
      if (part.length > 1) found.push(part.sort());
    }
  };
  for (const node of next.keys()) if (!index.has(node)) visit(node);
  return found;
}

describe('layers', () => {
  const files = sourceFiles(SRC);
  const allEdges = importsOf(files);
  const edges = allEdges.filter(([, target]) => insideSrc(target));

  it('every top-level folder of src/ has a layer', () => {
    const unknown = [...new Set(files.map(layerOf))].filter((top) => LAYERS[top] === undefined);
    expect(unknown).toEqual([]);
  });

  it('no module imports a layer above its own', () => {
    const uphill = edges
      .filter(([file, target]) => (LAYERS[layerOf(target)] ?? 99) > (LAYERS[layerOf(file)] ?? -1))
      .map(([file, target]) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`);
    expect(uphill).toEqual([]);
  });

  it('the product imports nothing from outside src/ (the worlds, judges and eval harness live in eval/)', () => {
    const outside = allEdges.filter(([, target]) => !insideSrc(target)).map(([file, target]) => `${path.relative(SRC, file)} -> ${path.relative(ROOT, target)}`);
    expect(outside).toEqual([]);
  });

  it('no two folders of src/ import each other, directly or around a circle', () => {
    expect(circles(edges.map(([file, target]) => [layerOf(file), layerOf(target)]))).toEqual([]);
  });

  it('no two files import each other, directly or around a circle', () => {
    expect(circles(edges).map((part) => part.map((file) => path.relative(SRC, file)))).toEqual([]);
  });

  it('the queue reaches the batch runner only through its executor seam', () => {
    const seam = path.join(SRC, 'batch', 'executor.ts');
    const reached = edges.filter(([file, target]) => layerOf(file) === 'queue' && layerOf(target) === 'batch' && target !== seam);
    expect(reached.map(([file, target]) => `${path.relative(SRC, file)} -> ${path.relative(SRC, target)}`)).toEqual([]);
  });

  it('finds the circles it is meant to find', () => {
    expect(circles([['a', 'b'], ['b', 'c'], ['c', 'a'], ['c', 'd'], ['d', 'd']])).toEqual([['a', 'b', 'c']]);
    expect(circles([['a', 'b'], ['b', 'c']])).toEqual([]);
  });
});
