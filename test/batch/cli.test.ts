import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, tempDir, TINY_MODEL, writeText } from './helpers.js';

const dir = tempDir('batch-cli');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const prompts = writeText(dir, 'prompts.txt', 'a red circle\ntwo blue squares\n');
const common = ['--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '3'];

describe('tessera batch (command line)', () => {
  it('runs, prints progress and a summary, and exits 0; a re-run skips everything', async () => {
    const out = path.join(dir, 'ok');
    const first = await cli('batch', prompts, '--out', out, ...common);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/tessera batch: prompts 2\/2 \| [\d.]+ images\/s, ETA/);
    expect(first.stdout).toContain(`${out}: 2/2 prompts complete (2 generated, 0 already done), base seed 3`);
    expect(first.stdout).toMatch(/4 images sampled in 1 batch, 9 files written/);
    const again = await cli('batch', prompts, '--out', out, ...common);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('2/2 prompts complete (0 generated, 2 already done)');
    const json = await cli('batch', prompts, '--out', out, ...common, '--json');
    expect(JSON.parse(json.stdout)).toMatchObject({ prompts: 2, skipped: 2, generated: 0, seed: 3 });
  });

  it('--no-grid writes no contact sheet; --batch-prompts 1 runs one sampler batch per prompt', async () => {
    const out = path.join(dir, 'nogrid');
    const result = await cli('batch', prompts, '--out', out, ...common, '--no-grid', '--batch-prompts', '1', '--quiet');
    expect(result.code).toBe(0);
    expect(result.stderr).not.toContain('tessera batch: prompts'); // --quiet: warnings only
    expect(result.stdout).toMatch(/in 2 batches/);
    expect(readdirSync(out).filter((f) => f.endsWith('-grid.png'))).toEqual([]);
  });

  it('reports skipped lines with their numbers and exits 1; --strict stops with the line', async () => {
    const bad = writeText(dir, 'bad.jsonl', '{"prompt": "a red circle"}\n{"prompt": "two", "keep": "x"}\nnot json\n');
    const out = path.join(dir, 'bad');
    const result = await cli('batch', bad, '--out', out, ...common);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('bad.jsonl:2: skipped: "keep" must be a number');
    expect(result.stderr).toContain('bad.jsonl:3: skipped: malformed JSON');
    expect(result.stdout).toContain('1/1 prompts complete');
    expect(result.stdout).toMatch(/2 lines skipped:\n {2}line 2: .*\n {2}line 3: /);
    const strict = await cli('batch', bad, '--out', path.join(dir, 'strict'), ...common, '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/\[TESSERA_ERR_INPUT_FILE\]: bad\.jsonl:2: /);
    expect(existsSync(path.join(dir, 'strict', 'run.json'))).toBe(false);
  });

  it('fails at once with a catalogue code: empty file, unreadable file, unwritable folder, other settings', async () => {
    const empty = await cli('batch', writeText(dir, 'empty.txt', ''), '--out', path.join(dir, 'x'), ...common);
    expect([empty.code, empty.stderr]).toEqual([1, expect.stringContaining('[TESSERA_ERR_INPUT_FILE]')]);
    const missing = await cli('batch', path.join(dir, 'nope.txt'), '--out', path.join(dir, 'x'), ...common);
    expect([missing.code, missing.stderr]).toEqual([1, expect.stringContaining('[TESSERA_ERR_INPUT_FILE]')]);
    const file = writeText(dir, 'a-file', 'x');
    const unwritable = await cli('batch', prompts, '--out', path.join(file, 'out'), ...common);
    expect([unwritable.code, unwritable.stderr]).toEqual([1, expect.stringContaining('[TESSERA_ERR_OUTPUT]')]);
    const out = path.join(dir, 'ok');
    const conflict = await cli('batch', prompts, '--out', out, ...common.slice(0, -2), '--seed', '4');
    expect([conflict.code, conflict.stderr]).toEqual([1, expect.stringContaining('[TESSERA_ERR_RUN_CONFLICT]')]);
    expect(conflict.stderr).toContain('seed: 3 in the folder, 4 now');
  });

  it('usage mistakes exit 2', async () => {
    expect((await cli('batch', prompts)).code).toBe(2); // no --out
    expect((await cli('batch', '--out', dir)).code).toBe(2); // no file
    expect((await cli('batch', prompts, '--out', dir, '--bogus')).code).toBe(2);
    expect((await cli('batch', prompts, '--out', dir, '--batch-prompts', 'many')).code).toBe(2);
    const help = await cli('batch', '--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: tessera batch');
  });
});
