/**
 * `tessera info <model-package>`: what a package holds and which precision runs it here:
 * its variants (with the fidelity the package tool recorded) and the cached auto decisions
 * (src/model/precision.ts), per CPU, device, threads and row bucket.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { readManifest, type PackageVariant } from '../model/manifest.js';
import { cacheDir, cpuKey, decisionsFor, packageSha256, PRECISION_CACHE_FILE } from '../model/precision.js';

/** True when `target` is a folder with a manifest.json (a model package, not an image). */
export function isModelPackage(target: string): boolean {
  return existsSync(target) && statSync(target).isDirectory() && existsSync(path.join(target, 'manifest.json'));
}

/** The CLIP a variant runs: its own folder or the package's, with its own vision graph when it names one (variants.int8.clipVision). */
function clipOf(clip: string, variant: PackageVariant): string {
  const folder = variant.clip === undefined ? `${clip}/` : `${variant.clip}/`;
  if (variant.clipVision !== undefined) return `${folder} (vision ${variant.clipVision}, text fp32)`;
  return variant.clip === undefined ? `${folder} (fp32)` : folder;
}

export function describePackage(dir: string, cache: string = cacheDir(), cpu: string = cpuKey()): string {
  const manifest = readManifest(dir);
  const sha = packageSha256(dir);
  const lines = [
    `model package: ${manifest.name} (${manifest.architecture}), ${path.resolve(dir)}`,
    `manifest sha256: ${sha}`,
    'precisions:',
    `  fp32  the package's own graphs (${manifest.generator.prefill}, ${manifest.generator.step}, ${manifest.decoder}${manifest.clip === null ? '' : `, ${manifest.clip}/`})`,
  ];
  for (const [precision, variant] of Object.entries(manifest.variants ?? {})) {
    if (variant === undefined) continue;
    const files = [variant.generator.prefill, variant.generator.step, variant.decoder ?? `${manifest.decoder} (fp32)`, ...(manifest.clip === null ? [] : [clipOf(manifest.clip, variant)])];
    const fidelity = variant.fidelity === undefined ? 'no fidelity result recorded' : `fidelity ${variant.fidelity.passed ? 'passed' : 'FAILED'} (${variant.fidelity.measuredAt}, ${variant.fidelity.cpu})`;
    lines.push(`  ${precision.padEnd(5)} ${files.join(', ')}; ${fidelity}`);
  }
  if (manifest.variants?.int8 === undefined) {
    lines.push('auto: fp32 (package has no int8 variant)');
    return lines.join('\n');
  }
  const decisions = decisionsFor(cache, sha);
  if (decisions.length === 0) {
    lines.push(`auto: not measured yet on this machine (the first run probes; cache ${path.join(cache, PRECISION_CACHE_FILE)})`);
    return lines.join('\n');
  }
  lines.push(`auto decisions cached in ${path.join(cache, PRECISION_CACHE_FILE)} (this CPU: ${cpu}):`);
  for (const d of decisions) {
    const here = d.cpu === cpu ? '*' : ' ';
    lines.push(`${here} ${d.precision.padEnd(5)} ${d.rows} rows, ${d.device}, ${d.threads} threads: int8 ${d.int8Ms.toFixed(2)} ms vs fp32 ${d.fp32Ms.toFixed(2)} ms (ratio ${d.ratio.toFixed(3)}), ${d.measuredAt}, ${d.cpu}`);
  }
  return lines.join('\n');
}
