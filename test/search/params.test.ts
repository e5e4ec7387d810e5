import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { MAX_LIMIT, MAX_RANK, parseSearchRequest } from '../../src/search/params.js';

function failure(params: Record<string, unknown>): { code: string; param: string | undefined } | null {
  try {
    parseSearchRequest(params);
  } catch (error) {
    if (isTesseraError(error)) return { code: error.code, param: error.param };
    throw error;
  }
  return null;
}

describe('parseSearchRequest', () => {
  it('reads a text query or an image id with a page, from query-string strings', () => {
    expect(parseSearchRequest({ query: ' red circle ' })).toEqual({ kind: 'text', text: 'red circle', offset: 0, limit: 20 });
    expect(parseSearchRequest({ like: 'img_1', limit: '5', offset: '10' })).toEqual({ kind: 'like', id: 'img_1', offset: 10, limit: 5 });
    expect(parseSearchRequest({ query: 'x', limit: MAX_LIMIT, offset: MAX_RANK - MAX_LIMIT }).limit).toBe(MAX_LIMIT);
  });

  it('names the offending parameter', () => {
    expect(failure({})).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'query' });
    expect(failure({ query: '  ' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'query' });
    expect(failure({ query: 'x'.repeat(1001) })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'query' });
    expect(failure({ query: 'a', like: 'b' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'like' });
    expect(failure({ like: '' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'like' });
    expect(failure({ query: 'a', limit: '0' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'limit' });
    expect(failure({ query: 'a', limit: String(MAX_LIMIT + 1) })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'limit' });
    expect(failure({ query: 'a', limit: '2.5' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'limit' });
    expect(failure({ query: 'a', offset: '-1' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'offset' });
    expect(failure({ query: 'a', offset: String(MAX_RANK) })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'offset' });
    expect(failure({ query: 'a', sort: 'new' })).toEqual({ code: 'TESSERA_ERR_SEARCH', param: 'sort' });
  });
});
