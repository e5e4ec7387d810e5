import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readImageMetadata } from '../../src/image/index.js';
import { readManifest } from '../../src/model/manifest.js';
import { tempDir, TINY_MODEL, writeText } from './helpers.js';

let stdout = '';
beforeEach(() => {
  stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
});
afterEach(() => vi.restoreAllMocks());

const grid = readManifest(TINY_MODEL).image.grid;

describe('tessera batch: usage and footprint', () => {
  it('per prompt in the timings file and manifest line, summed in the summary; the PNGs stay byte-stable (no footprint chunk)', async () => {
    const dir = tempDir('batch-footprint');
    const prompts = writeText(dir, 'p.txt', 'a red circle\ntwo blue squares\na green star\n');
    const out = path.join(dir, 'out');
    const code = await main(['batch', prompts, '--out', out, '--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '3', '--batch-prompts', '2', '--guidance', '1', '--json', '--grid-intensity', '200']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout) as { footprint: { co2e_g: number; energy_j: number; flops: { total: number }; grid_intensity_g_per_kwh: number }; usage: { output_tokens: number } };
    const lines = readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { timings: { usage: { output_tokens: number }; footprint: { co2e_g: number; energy_j: number; flops: { total: number }; grid_intensity_g_per_kwh: number } }; images: { file: string }[]; record: string });
    expect(lines).toHaveLength(3);
    for (const line of lines) {
      expect(line.timings.usage.output_tokens).toBe(2 * grid.height * grid.width);
      expect(line.timings.footprint.grid_intensity_g_per_kwh).toBe(200);
      const timings = JSON.parse(readFileSync(path.join(out, line.record.replace(/\.json$/, '.timings.json')), 'utf8')) as { footprint: unknown };
      expect(timings.footprint).toEqual(line.timings.footprint);
      expect(readImageMetadata(readFileSync(path.join(out, line.images[0].file))).footprint).toBeUndefined();
    }
    const sum = (pick: (f: { co2e_g: number; energy_j: number; flops: { total: number } }) => number) => lines.reduce((s, l) => s + pick(l.timings.footprint), 0);
    expect(summary.footprint.flops.total).toBe(sum((f) => f.flops.total));
    expect(summary.footprint.energy_j).toBeCloseTo(sum((f) => f.energy_j), 2);
    expect(summary.footprint.co2e_g).toBeCloseTo(sum((f) => f.co2e_g), 5);
    expect(summary.usage.output_tokens).toBe(3 * 2 * grid.height * grid.width);
  });
});
