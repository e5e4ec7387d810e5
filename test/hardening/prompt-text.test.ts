/**
 * Issue 15, defects 1 and 9: prompt text that the outputs cannot carry (NUL and other
 * control characters, lone surrogates) is refused before sampling everywhere a request
 * is resolved, and the prompt length counts code points, not UTF-16 units.
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { checkPrompt, LIMITS } from '../../src/pipeline/settings.js';
import { cli, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';
import { testServer, type TestServer } from '../server/helpers.js';

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return isTesseraError(error) ? error.code : 'not a TesseraError';
  }
}

describe('checkPrompt', () => {
  it.each([
    ['NUL', 'a red\u0000 circle'],
    ['bell', 'a red \u0007circle'],
    ['escape', '\u001b[31ma red circle'],
    ['DEL', 'a red circle\u007f'],
    ['C1 control', 'a red\u0085 circle'],
    ['noncharacter', 'a red circle\uFFFF'],
    ['lone high surrogate', 'a red circle \uD83D'],
    ['lone low surrogate', '\uDE00 a red circle'],
  ])('refuses %s with TESSERA_ERR_PROMPT', (_name, text) => {
    expect(codeOf(() => checkPrompt(text))).toBe('TESSERA_ERR_PROMPT');
    expect(codeOf(() => checkPrompt(text, 'negativePrompt'))).toBe('TESSERA_ERR_PROMPT');
  });

  it('accepts tab, line feed, carriage return, emoji (surrogate pairs) and other scripts', () => {
    for (const text of ['a red\tcircle', 'a red\ncircle\r\n', 'a 😀 circle', 'un cercle rouge — 赤い丸']) expect(checkPrompt(text)).toBe(text);
  });

  it('counts code points: 4,000 emoji are allowed, 4,001 are not', () => {
    const emoji = '😀';
    expect(checkPrompt(emoji.repeat(LIMITS.promptCharacters))).toHaveLength(2 * LIMITS.promptCharacters);
    let message = '';
    try {
      checkPrompt(emoji.repeat(LIMITS.promptCharacters + 1));
    } catch (error) {
      expect(isTesseraError(error, 'TESSERA_ERR_PROMPT')).toBe(true);
      message = (error as Error).message;
    }
    expect(message).toContain(`${LIMITS.promptCharacters + 1} characters`);
  });
});

describe('the HTTP API refuses such prompts with a 400 before queueing', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await testServer();
  });
  afterAll(async () => server?.close());

  it.each([
    ['/v1/images/generations', { prompt: 'a red circle\u0000' }, 'prompt'],
    ['/v1/images/generations', { prompt: 'a red circle', negative_prompt: 'x\u0000y', guidance_scale: 2 }, 'negative_prompt'],
    ['/v1/jobs', { prompt: 'a red\u0000 circle' }, 'prompt'],
    ['/v1/jobs', { prompt: 'a \uD800 circle' }, 'prompt'],
  ])('%s %j', async (url, payload, param) => {
    const response = await server.app.inject({ method: 'POST', url, payload });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: { code: 'invalid_prompt', param, type: 'invalid_request_error' } });
  });

  it('2,001 emoji are "2001 characters", within the limit of the model text (code points)', async () => {
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/generations', payload: { prompt: '😀'.repeat(LIMITS.promptCharacters + 1) } });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.message).toContain(`${LIMITS.promptCharacters + 1} characters`);
  });
});

describe('tessera generate refuses such prompts before sampling', () => {
  it('exit 2 with TESSERA_ERR_PROMPT, nothing written', async () => {
    const out = path.join(tempDir('generate-ctl'), 'out');
    const result = await cli('generate', 'a red \u001b[31m circle', '--model', TINY_MODEL, '--candidates', '2', '--out', out);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('[TESSERA_ERR_PROMPT]');
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
    const negative = await cli('generate', 'a red circle', '--negative', 'blue\u0007', '--guidance', '2', '--model', TINY_MODEL, '--candidates', '2', '--out', out);
    expect([negative.code, negative.stderr]).toEqual([2, expect.stringContaining('[TESSERA_ERR_PROMPT]')]);
  });
});

describe('tessera batch skips such lines with their numbers and writes the rest', () => {
  const dir = tempDir('batch-nul');
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a NUL in a JSONL prompt or negative prompt is a skipped line; the good lines are written', async () => {
    const file = writeText(
      dir,
      'prompts.jsonl',
      [
        JSON.stringify({ prompt: 'a red circle' }),
        JSON.stringify({ prompt: 'a blue\u0000 square' }),
        JSON.stringify({ prompt: 'a green star', negative_prompt: 'red\u0000', guidance: 2 }),
        JSON.stringify({ prompt: 'two \uDC00 triangles' }),
        JSON.stringify({ prompt: 'a white circle' }),
      ].join('\n') + '\n',
    );
    const out = path.join(dir, 'out');
    const result = await cli('batch', file, '--out', out, '--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '1', '--json');
    expect(result.code, result.stderr).toBe(1);
    const summary = JSON.parse(result.stdout) as { generated: number; invalid: { line: number }[] };
    expect(summary.invalid.map((p) => p.line)).toEqual([2, 3, 4]);
    expect(summary.generated).toBe(2);
    const records = readdirSync(path.join(out, 'records')).filter((f) => /^\d+\.json$/.test(f));
    expect(records.sort()).toEqual(['0000.json', '0004.json']);
    // --strict stops at the first bad line with its number, before sampling anything.
    const strict = await cli('batch', file, '--out', path.join(dir, 'strict'), '--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '1', '--strict');
    expect(strict.code).toBe(1);
    expect(strict.stderr).toMatch(/prompts\.jsonl:2: /);
  });

  it('a NUL in a text prompt file is a skipped line too', async () => {
    const file = writeText(dir, 'prompts.txt', 'a red circle\na blue\u0000 square\n');
    const result = await cli('batch', file, '--out', path.join(dir, 'txt'), '--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '1', '--json');
    expect(result.code).toBe(1);
    expect((JSON.parse(result.stdout) as { invalid: { line: number }[] }).invalid.map((p) => p.line)).toEqual([2]);
  });
});
