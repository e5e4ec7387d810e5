/**
 * --clip DIR on generate, batch and serve: a CLIP in transformers.js's layout ranks instead
 * of the package's own; a bad folder is TESSERA_ERR_OPTION naming it, before anything loads.
 */
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { isTesseraError } from '../../src/errors.js';
import { clipDigest } from '../../src/rerank/clip-reranker.js';
import { resolveServerOptions } from '../../src/server/options.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { copyTinyModel, ROOT, tempDir, TINY_MODEL } from '../helpers/tiny.js';

const TINY_CLIP = path.join(ROOT, 'test/fixtures/tiny-clip');

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

interface Summary {
  images: { candidateIndex: number; score: number | null }[];
}

async function generate(...extra: string[]): Promise<Summary> {
  const out = path.join(tempDir(), 'out');
  stdout = '';
  const code = await main(['generate', 'a red circle', '--model', TINY_MODEL, '--candidates', '4', '--keep', '4', '--seed', '3', '--json', '--out', out, ...extra]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return JSON.parse(stdout) as Summary;
}

/** A copy of the tiny CLIP without one of its files. */
function clipWithout(file: string): string {
  const dir = path.join(tempDir(), 'clip');
  cpSync(TINY_CLIP, dir, { recursive: true });
  rmSync(path.join(dir, file));
  return dir;
}

describe('tessera generate --clip', () => {
  it('ranks the same candidates with the given CLIP: other scores than the package\'s own', async () => {
    const own = await generate();
    const real = await generate('--clip', TINY_CLIP);
    const byIndex = (s: Summary) => new Map(s.images.map((i) => [i.candidateIndex, i.score]));
    const a = byIndex(own);
    const b = byIndex(real);
    expect([...b.keys()].sort()).toEqual([0, 1, 2, 3]);
    for (const [index, score] of b) {
      expect(typeof score).toBe('number');
      expect(score as number).toBeGreaterThanOrEqual(-1);
      expect(score as number).toBeLessThanOrEqual(1);
      expect(Math.abs((score as number) - (a.get(index) as number))).toBeGreaterThan(1e-6);
    }
    // Ranked by its own scores.
    const scores = real.images.map((i) => i.score as number);
    expect(scores).toEqual([...scores].sort((x, y) => y - x));
  });

  const bad: [string, () => string, string][] = [
    ['a missing folder', () => path.join(tempDir(), 'no-such-clip'), 'no-such-clip'],
    ['a folder without the vision model', () => clipWithout('onnx/vision_model.onnx'), 'onnx/vision_model.onnx'],
    ['a folder without the preprocessor config', () => clipWithout('preprocessor_config.json'), 'preprocessor_config.json'],
  ];
  for (const [name, dir, named] of bad) {
    it(`${name} is TESSERA_ERR_OPTION naming it, exit 2, nothing written`, async () => {
      const out = path.join(tempDir(), 'out');
      const code = await main(['generate', 'a red circle', '--model', TINY_MODEL, '--clip', dir(), '--out', out]);
      expect(code).toBe(2);
      expect(stderr).toContain('[TESSERA_ERR_OPTION]');
      expect(stderr).toContain(named);
      expect(existsSync(out)).toBe(false);
    });
  }
});

describe('tessera batch --clip', () => {
  it('records the CLIP in run.json and refuses to resume the folder with another one', async () => {
    const dir = tempDir();
    const prompts = path.join(dir, 'prompts.txt');
    const out = path.join(dir, 'out');
    writeFileSync(prompts, 'a red circle\n');
    const args = ['batch', prompts, '--out', out, '--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '1', '--no-grid', '--quiet'];
    expect(await main([...args, '--clip', TINY_CLIP])).toBe(0);
    const run = JSON.parse(readFileSync(path.join(out, 'run.json'), 'utf8'));
    expect(run.clip).toEqual({ dir: TINY_CLIP, sha256: await clipDigest(TINY_CLIP) });
    stderr = '';
    expect(await main(args)).not.toBe(0);
    expect(stderr).toContain('[TESSERA_ERR_RUN_CONFLICT]');
    expect(stderr).toContain('clip');
    stderr = '';
    expect(await main([...args, '--clip', path.join(dir, 'nowhere')])).toBe(2);
    expect(stderr).toContain('[TESSERA_ERR_OPTION]');
  });
});

describe('tessera serve --clip', () => {
  it('is resolved to an absolute folder and checked like the other commands', () => {
    expect(resolveServerOptions({ clip: path.relative(process.cwd(), TINY_CLIP) }).clip).toBe(TINY_CLIP);
    expect(resolveServerOptions({}).clip).toBeNull();
    let error: unknown = null;
    try {
      resolveServerOptions({ clip: clipWithout('tokenizer.json') });
    } catch (e) {
      error = e;
    }
    expect(isTesseraError(error, 'TESSERA_ERR_OPTION')).toBe(true);
    expect((error as Error).message).toContain('tokenizer.json');
  });
});

describe('a real-layout CLIP recorded in a package', () => {
  it('ranks as --clip does with the same folder; a package whose CLIP lacks a file is TESSERA_ERR_MODEL_FILE naming it', async () => {
    const model = copyTinyModel();
    rmSync(path.join(model, 'clip'), { recursive: true });
    cpSync(TINY_CLIP, path.join(model, 'clip'), { recursive: true });
    const request = { prompt: 'a blue star', candidates: 3, keep: 3, seed: 4 };
    const scores = async (options: { model: string; clip?: string }) => {
      const tessera = await Tessera.load({ ...options, verify: false });
      try {
        return (await tessera.generate(request)).kept.map((k) => [k.index, k.score]);
      } finally {
        await tessera.dispose();
      }
    };
    expect(await scores({ model })).toEqual(await scores({ model: TINY_MODEL, clip: TINY_CLIP }));
    rmSync(path.join(model, 'clip', 'tokenizer_config.json'));
    const error = await Tessera.load({ model, verify: false }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(isTesseraError(error, 'TESSERA_ERR_MODEL_FILE')).toBe(true);
    expect((error as Error).message).toContain('tokenizer_config.json');
  });
});
