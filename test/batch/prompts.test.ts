import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePrompts, readPromptFile } from '../../src/batch/prompts.js';
import { planBatches } from '../../src/batch/plan.js';
import { promptSeed } from '../../src/batch/run-settings.js';
import { gridName, keptImageName, stemOf } from '../../src/output/batch.js';
import { crashHookFromEnv } from '../../src/batch/store.js';
import { isTesseraError } from '../../src/errors.js';
import { tempDir, writeText } from './helpers.js';

describe('prompt files', () => {
  it('text: one prompt a line; blank lines and # comments ignored; CRLF and BOM tolerated', () => {
    const parsed = parsePrompts('\uFEFFa red circle\r\n\n# a comment\n  two blue squares  \r\n', 'text');
    expect(parsed.problems).toEqual([]);
    expect(parsed.entries).toEqual([
      { index: 0, line: 1, prompt: 'a red circle', overrides: {} },
      { index: 1, line: 4, prompt: 'two blue squares', overrides: {} },
    ]);
  });

  it('jsonl: overrides in snake_case; bad lines reported with their line number and still numbered', () => {
    const text = [
      '{"prompt": "a red circle", "seed": 7, "negative_prompt": "blue", "candidates": 4, "keep": 2, "guidance": 2.5, "temperature": 0.9, "top_k": 10, "top_p": 0.95}',
      '',
      '{"prompt": broken',
      '["a list"]',
      '{"prompt": "x", "colour": "red"}',
      '{"prompt": 3}',
      '{"prompt": "y", "seed": "7"}',
      '{"prompt": "z", "negative_prompt": 5}',
      '{"prompt": "a star", "keep": null}',
    ].join('\n');
    const parsed = parsePrompts(text, 'jsonl');
    expect(parsed.entries).toEqual([
      {
        index: 0,
        line: 1,
        prompt: 'a red circle',
        overrides: { seed: 7, negativePrompt: 'blue', candidates: 4, keep: 2, guidanceScale: 2.5, temperature: 0.9, topK: 10, topP: 0.95 },
      },
      { index: 7, line: 9, prompt: 'a star', overrides: {} },
    ]);
    expect(parsed.problems.map((p) => [p.line, p.index])).toEqual([
      [3, 1],
      [4, 2],
      [5, 3],
      [6, 4],
      [7, 5],
      [8, 6],
    ]);
    expect(parsed.problems[0].message).toMatch(/malformed JSON/);
    expect(parsed.problems[2].message).toMatch(/unknown key "colour"/);
    expect(parsed.problems[4].message).toMatch(/"seed" must be a number/);
    expect(parsed.total).toBe(8);
  });

  it('fails at once for an unreadable, a missing, a folder or an empty file', () => {
    const dir = tempDir('prompts');
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return isTesseraError(error) ? error.code : String(error);
      }
      return 'no error';
    };
    expect(code(() => readPromptFile(path.join(dir, 'missing.txt')))).toBe('TESSERA_ERR_INPUT_FILE');
    expect(code(() => readPromptFile(dir))).toBe('TESSERA_ERR_INPUT_FILE');
    expect(code(() => readPromptFile(writeText(dir, 'empty.txt', '')))).toBe('TESSERA_ERR_INPUT_FILE');
    expect(code(() => readPromptFile(writeText(dir, 'blank.txt', '\n  \n# only a comment\n')))).toBe('TESSERA_ERR_INPUT_FILE');
    expect(code(() => readPromptFile(writeText(dir, 'blank.jsonl', '\n\n')))).toBe('TESSERA_ERR_INPUT_FILE');
    expect(readPromptFile(writeText(dir, 'p.jsonl', '{"prompt":"a"}\n')).format).toBe('jsonl');
    expect(readPromptFile(writeText(dir, 'p.txt', '{"prompt":"a"}\n')).entries[0].prompt).toBe('{"prompt":"a"}');
  });
});

describe('names, seeds and batches', () => {
  it('derives per-prompt seeds deterministically from (base, index)', () => {
    expect(promptSeed(42, 0)).toBe(promptSeed(42, 0));
    const seeds = new Set(Array.from({ length: 100 }, (_, i) => promptSeed(42, i)));
    expect(seeds.size).toBe(100);
    expect(promptSeed(43, 0)).not.toBe(promptSeed(42, 0));
    for (const s of seeds) expect(s >= 0 && s <= 0xffffffff && Number.isInteger(s)).toBe(true);
  });

  it('names outputs by zero-padded index and slug', () => {
    const stem = stemOf(3, 'A Red Circle, on blue!');
    expect(stem).toBe('0003-a-red-circle-on-blue');
    expect(keptImageName(stem, 1, 5)).toBe('0003-a-red-circle-on-blue-r1-c5.png');
    expect(gridName(stem)).toBe('0003-a-red-circle-on-blue-grid.png');
  });

  it('plans sampler batches in file order by prompts and candidates', () => {
    const tasks = [8, 8, 8, 300, 8, 8].map((candidates, i) => ({ i, spec: { candidates } }));
    const plan = (p: number, c: number) => planBatches(tasks, p, c).map((b) => b.map((t) => t.i));
    expect(plan(2, 256)).toEqual([[0, 1], [2], [3], [4, 5]]);
    expect(plan(8, 256)).toEqual([[0, 1, 2], [3], [4, 5]]);
    expect(plan(1, 256)).toEqual([[0], [1], [2], [3], [4], [5]]);
  });

  it('parses the crash hook variable strictly', () => {
    expect(crashHookFromEnv(undefined)).toBeUndefined();
    expect(crashHookFromEnv('')).toBeUndefined();
    expect(typeof crashHookFromEnv('write:3')).toBe('function');
    expect(() => crashHookFromEnv('explode:3')).toThrow(/TESSERA_BATCH_CRASH_AT/);
  });
});
