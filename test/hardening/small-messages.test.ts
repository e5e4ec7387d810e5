/**
 * Issue 23, defect 5: search queries are counted in code points (as prompts are); messages
 * name published fields (keep_rows), never internal ones (keepRows); every code the API
 * answers is in docs/api.md's table (search, search_not_found among them).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpErrorOf, type ErrorCode } from '../../src/errors.js';
import { readManifest } from '../../src/model/manifest.js';
import { resolveImagePrompt } from '../../src/pipeline/image-prompt.js';
import { MAX_QUERY_CHARS, parseSearchRequest } from '../../src/search/params.js';
import { testPicture } from '../helpers/images.js';
import { TINY_MODEL, testServer, type TestServer } from '../server/helpers.js';

function thrown(run: () => unknown): { code?: string; message: string } {
  try {
    run();
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected an error');
}

describe('search query length', () => {
  it('counts code points: 1000 emoji are 1000 characters, 1001 are one too many', () => {
    expect(parseSearchRequest({ query: '😀'.repeat(MAX_QUERY_CHARS) })).toMatchObject({ kind: 'text' });
    const error = thrown(() => parseSearchRequest({ query: '😀'.repeat(MAX_QUERY_CHARS + 1) }));
    expect(error.code).toBe('TESSERA_ERR_SEARCH');
    expect(error.message).toContain(`${MAX_QUERY_CHARS + 1} characters`);
  });
});

describe('messages name published fields', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await testServer({ waitReady: true });
  });
  afterAll(async () => server?.close());

  it('keep_rows and keep_share, not keepRows and keepShare', async () => {
    const manifest = readManifest(TINY_MODEL);
    const pixels = Buffer.alloc(manifest.image.size * manifest.image.size * 3).toString('base64');
    const rows = thrown(() => resolveImagePrompt({ mode: 'complete', pixels, keepRows: 99 }, manifest));
    expect([rows.code, rows.message.startsWith('keep_rows ')]).toEqual(['TESSERA_ERR_OPTION', true]);
    const share = thrown(() => resolveImagePrompt({ mode: 'vary', pixels, keepShare: 2 }, manifest));
    expect([share.code, share.message.startsWith('keep_share ')]).toEqual(['TESSERA_ERR_OPTION', true]);
    const foreign = thrown(() => resolveImagePrompt({ mode: 'vary', pixels, keepRows: 2 }, manifest));
    expect(foreign.message).not.toMatch(/keepRows|keepShare/);

    const form = new FormData();
    form.append('image', new Blob([new Uint8Array(await testPicture(64, 64))]), 'p.png');
    form.append('prompt', 'a star');
    form.append('keep_rows', '99');
    const response = await server.app.inject({ method: 'POST', url: '/v1/images/edits', payload: form });
    expect([response.statusCode, response.json().error.code, response.json().error.param]).toEqual([400, 'invalid_value', 'keep_rows']);
    expect(response.json().error.message).not.toMatch(/keepRows/);
  });
});

describe('the documented code table', () => {
  it('lists every code the HTTP API answers with', () => {
    const table = readFileSync('docs/api.md', 'utf8');
    const api: ErrorCode[] = [
      'TESSERA_ERR_SEARCH', 'TESSERA_ERR_SEARCH_NOT_FOUND', 'TESSERA_ERR_INVALID_BODY', 'TESSERA_ERR_INVALID_CONTENT_LENGTH', 'TESSERA_ERR_INVALID_REQUEST',
      'TESSERA_ERR_INPUT_FORMAT', 'TESSERA_ERR_INPUT_IMAGE', 'TESSERA_ERR_INPUT_IMAGE_TOO_LARGE', 'TESSERA_ERR_MASK', 'TESSERA_ERR_SHUTTING_DOWN',
      'TESSERA_ERR_REQUEST_TIMEOUT', 'TESSERA_ERR_QUEUE_UNAVAILABLE', 'TESSERA_ERR_INFERENCE', 'TESSERA_ERR_EMBEDDING', 'TESSERA_ERR_INDEX',
    ];
    for (const code of api) expect(table.includes(`\`${httpErrorOf(code).wire}\``), code).toBe(true);
  });
});
