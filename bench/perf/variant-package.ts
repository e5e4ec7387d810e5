/**
 * A package's int8 variant as a package of its own: a temporary folder whose files link to the
 * package's, whose top-level graphs are the ones `--precision int8` runs (graphsFor, the one
 * rule for that), and whose manifest has no variants. The loader selects precisions itself;
 * this stays for what takes a package folder only: the judge's harness (`npm run eval --
 * --model DIR`) and the benches' side-by-side PyTorch and lever runs, which name packages.
 */
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readManifest } from '../../src/model/manifest.js';
import { graphsFor } from '../../src/model/precision.js';

function linkOrSymlink(from: string, to: string): void {
  try {
    linkSync(from, to);
  } catch {
    symlinkSync(from, to);
  }
}

export function variantPackage(dir: string, precision: 'int8' = 'int8', into?: string): string {
  const source = path.resolve(dir);
  const manifest = readManifest(source);
  if (manifest.variants?.[precision] === undefined) throw new Error(`${dir}: manifest.json has no variants.${precision} (scripts/perf/quantize_int8.py --mode dynamic writes it)`);
  const graphs = graphsFor(manifest, precision);
  const out = into ?? mkdtempSync(path.join(tmpdir(), `tessera-${precision}-`));
  for (const rel of Object.keys(manifest.files)) {
    mkdirSync(path.dirname(path.join(out, rel)), { recursive: true });
    linkOrSymlink(path.join(source, rel), path.join(out, rel));
  }
  // CLIP folders hold files the manifest lists one by one; anything else it names is linked above.
  const raw = JSON.parse(readFileSync(path.join(source, 'manifest.json'), 'utf8')) as Record<string, unknown>;
  const generator = raw.generator as Record<string, unknown>;
  raw.generator = { ...generator, prefill: graphs.prefill, step: graphs.step };
  raw.decoder = graphs.decoder;
  raw.clip = graphs.clip;
  // A variant's own CLIP vision graph (variants.int8.clipVision) takes the folder's vision_model.onnx place: transformers.js reads that name.
  if (graphs.clip !== null && graphs.clipVision !== null) {
    const vision = `${graphs.clip.replace(/\/+$/, '')}/onnx/vision_model.onnx`;
    rmSync(path.join(out, vision), { force: true });
    linkOrSymlink(path.join(source, graphs.clipVision), path.join(out, vision));
    (raw.files as Record<string, string>)[vision] = manifest.files[graphs.clipVision];
  }
  raw.name = `${manifest.name}-${precision}`;
  delete raw.variants;
  writeFileSync(path.join(out, 'manifest.json'), JSON.stringify(raw, null, 2) + '\n');
  return out;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const [dir, into] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: node --import tsx bench/perf/variant-package.ts PACKAGE [INTO]');
  console.log(variantPackage(dir, 'int8', into));
}
