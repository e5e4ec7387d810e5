import { copyFileSync, cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sha256OfFile } from '../../src/model/verified-files.js';
import { copyTinyModel, ROOT, TINY_MODEL } from './tiny.js';

const TINY_INT8 = path.join(ROOT, 'test/fixtures/tiny-model-int8');

/**
 * A copy of the tiny package with `variants.int8` (until the int8-graphs branch ships real
 * int8 graphs in the fixture): its generator graphs are tiny-model-int8's weight-only ones,
 * which give other logits, so a test can tell which files ran; its decoder a copy of the
 * fp32 one.
 */
export async function variantPackage(options: { clip?: boolean } = {}): Promise<string> {
  const dir = copyTinyModel();
  copyFileSync(path.join(TINY_INT8, 'generator/prefill.onnx'), path.join(dir, 'generator/prefill.int8.onnx'));
  copyFileSync(path.join(TINY_INT8, 'generator/step.onnx'), path.join(dir, 'generator/step.int8.onnx'));
  copyFileSync(path.join(dir, 'vae/decoder.onnx'), path.join(dir, 'vae/decoder.int8.onnx'));
  const manifest = JSON.parse(readFileSync(path.join(TINY_MODEL, 'manifest.json'), 'utf8'));
  const files = ['generator/prefill.int8.onnx', 'generator/step.int8.onnx', 'vae/decoder.int8.onnx'];
  // With `clip`: tiny-model-int8's weight-only CLIP as the variant's CLIP folder (it scores differently).
  if (options.clip) {
    cpSync(path.join(TINY_INT8, 'clip'), path.join(dir, 'clip-int8'), { recursive: true });
    for (const entry of readdirSync(path.join(dir, 'clip-int8'), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) files.push(path.relative(dir, path.join(entry.parentPath, entry.name)).split(path.sep).join('/'));
    }
  }
  for (const file of files) manifest.files[file] = await sha256OfFile(path.join(dir, file));
  manifest.variants = {
    int8: {
      generator: { prefill: 'generator/prefill.int8.onnx', step: 'generator/step.int8.onnx' },
      decoder: 'vae/decoder.int8.onnx',
      ...(options.clip ? { clip: 'clip-int8' } : {}),
      fidelity: { passed: true, measuredAt: '2026-12-05', cpu: 'test', checks: { topTokenAgreement: 0.9 } },
    },
  };
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}


/**
 * A copy of the tiny package without its int8 variant (the fixture ships one since issue 27):
 * the package a user converted before variants existed, for the no-variant paths.
 */
export function plainPackage(): string {
  const dir = copyTinyModel();
  const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  const variantFiles = [manifest.variants?.int8?.generator?.prefill, manifest.variants?.int8?.generator?.step, manifest.variants?.int8?.decoder];
  for (const file of variantFiles) if (typeof file === 'string') delete manifest.files[file];
  delete manifest.variants;
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  return dir;
}
