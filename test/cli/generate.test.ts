import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { readImageMetadata, TRAINED_ALGORITHMIC_MEDIA } from '../../src/image/index.js';
import { copyTinyModel, tempDir, TINY_MODEL } from '../helpers/tiny.js';
import { withoutFootprint } from '../helpers/png.js';

let stdout = '';
let stderr = '';

beforeEach(() => {
  stdout = '';
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((stdout += String(chunk)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
});
afterEach(() => {
  vi.restoreAllMocks();
});

const run = (...args: string[]) => main(args);

describe('tessera generate', () => {
  it('writes the kept images and a grid, each saying what it is', async () => {
    const out = path.join(tempDir(), 'out');
    const code = await run('generate', 'a red circle', '--model', TINY_MODEL, '--candidates', '4', '--keep', '2', '--seed', '7', '--grid', '--out', out);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toHaveLength(3);
    expect(files.filter((f) => f.endsWith('-grid.png'))).toHaveLength(1);
    const kept = files.filter((f) => !f.endsWith('-grid.png'));
    for (const file of kept) expect(file).toMatch(/^a-red-circle-7-\d+\.png$/);
    const meta = readImageMetadata(readFileSync(path.join(out, kept[0])));
    expect(meta.digitalSourceType).toBe(TRAINED_ALGORITHMIC_MEDIA);
    expect(meta.parameters).toMatch(/^a red circle\n/);
    expect(meta.parameters).toMatch(/Seed: 7/);
    expect(stdout).toMatch(/stages: tokenize .* \| prefill .* \| decode .* \| image decode .* \| rerank .* \| total/);
    expect(stdout).toMatch(/rank\s+score\s+seed\s+candidate\s+file/);
  });

  it('prints JSON with --json and is reproducible from the seed', async () => {
    const outA = path.join(tempDir(), 'a');
    const outB = path.join(tempDir(), 'b');
    await run('generate', 'a blue star', '--model', TINY_MODEL, '--candidates', '3', '--keep', '1', '--seed', '11', '--json', '--out', outA);
    const first = JSON.parse(stdout);
    stdout = '';
    await run('generate', 'a blue star', '--model', TINY_MODEL, '--candidates', '3', '--keep', '1', '--seed', '11', '--json', '--out', outB);
    const second = JSON.parse(stdout);
    expect(first.images.map((i: { candidateIndex: number }) => i.candidateIndex)).toEqual(second.images.map((i: { candidateIndex: number }) => i.candidateIndex));
    const name = path.basename(first.images[0].file);
    // Everything but the run's measured footprint is the same bytes.
    expect(withoutFootprint(readFileSync(path.join(outA, name))).equals(withoutFootprint(readFileSync(path.join(outB, name))))).toBe(true);
  });

  it('--json reports each kept image\'s image tokens, the same the library samples for that candidate', async () => {
    const out = path.join(tempDir(), 'out');
    await run('generate', 'a red star', '--model', TINY_MODEL, '--candidates', '3', '--keep', '2', '--seed', '5', '--json', '--no-rerank', '--out', out);
    const summary = JSON.parse(stdout);
    const { Tessera } = await import('../../src/pipeline/tessera.js');
    const tessera = await Tessera.load({ model: TINY_MODEL, rerank: false });
    for (const image of summary.images as { candidateIndex: number; tokens: number[] }[]) {
      expect(image.tokens).toHaveLength(64);
      const alone = await tessera.generate({ prompt: 'a red star', seed: 5, candidates: 3, candidateIndices: [image.candidateIndex], rerank: false });
      expect(image.tokens).toEqual(Array.from(alone.candidates[0].tokens));
    }
  });

  it('warns when the prompt is truncated or has unknown words', async () => {
    const out = path.join(tempDir(), 'out');
    const code = await run('generate', 'a purple zebra ' + 'star '.repeat(15), '--model', TINY_MODEL, '--candidates', '1', '--out', out, '--no-rerank');
    expect(code).toBe(0);
    expect(stderr).toMatch(/warning: .*only the first 12/);
    expect(stderr).toMatch(/warning: words not understood .*"purple", "zebra"/);
  });
});

describe('tessera generate: bad input is one line, a non-zero exit and nothing written', () => {
  const cases: [string, string[], string, number][] = [
    ['empty prompt', ['generate', '', '--model', TINY_MODEL], 'TESSERA_ERR_PROMPT', 2],
    ['whitespace prompt', ['generate', '   ', '--model', TINY_MODEL], 'TESSERA_ERR_PROMPT', 2],
    ['no prompt', ['generate', '--model', TINY_MODEL], 'TESSERA_ERR_PROMPT', 2],
    ['unknown flag', ['generate', 'a red circle', '--colour', 'red'], 'TESSERA_ERR_UNKNOWN_FLAG', 2],
    ['non-numeric', ['generate', 'a red circle', '--candidates', 'many', '--model', TINY_MODEL], 'TESSERA_ERR_OPTION', 2],
    ['out of range', ['generate', 'a red circle', '--top-p', '1.5', '--model', TINY_MODEL], 'TESSERA_ERR_OPTION', 2],
    ['keep > candidates', ['generate', 'a red circle', '--candidates', '2', '--keep', '5', '--model', TINY_MODEL], 'TESSERA_ERR_OPTION', 2],
    ['unknown device', ['generate', 'a red circle', '--device', 'tpu', '--model', TINY_MODEL], 'TESSERA_ERR_DEVICE', 1],
    ['missing model', ['generate', 'a red circle', '--model', '/nonexistent'], 'TESSERA_ERR_MODEL_NOT_FOUND', 1],
  ];
  for (const [name, args, code, exit] of cases) {
    it(`${name} -> ${code}, exit ${exit}`, async () => {
      const out = path.join(tempDir(), 'out');
      const status = await run(...args, '--out', out);
      expect(status).toBe(exit);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toContain(`[${code}]`);
      expect(existsSync(out)).toBe(false);
    });
  }

  it('a corrupt model file names the file and writes nothing', async () => {
    const model = copyTinyModel();
    const { appendFileSync } = await import('node:fs');
    appendFileSync(path.join(model, 'generator/prefill.onnx'), 'junk');
    const out = path.join(tempDir(), 'out');
    expect(await run('generate', 'a red circle', '--model', model, '--out', out)).toBe(1);
    expect(stderr).toMatch(/\[TESSERA_ERR_MODEL_FILE\].*generator\/prefill\.onnx/);
    expect(existsSync(out)).toBe(false);
  });

  it('an unwritable output folder fails at once', async () => {
    // Under /proc nothing can be created (and Node's recursive mkdir would hang there).
    expect(await run('generate', 'a red circle', '--model', TINY_MODEL, '--out', '/proc/tessera-test/out')).toBe(1);
    expect(stderr).toContain('[TESSERA_ERR_OUTPUT]');
  });

  it('an unknown command is an error', async () => {
    expect(await run('paint', 'x')).toBe(2);
    expect(stderr).toMatch(/unknown command "paint"/);
  });
});
