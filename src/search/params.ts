import { TesseraError } from '../errors.js';
import { promptLength } from '../pipeline/settings.js';

/** One page of a ranking. */
export interface Page {
  offset: number;
  limit: number;
}

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 100;
/** Deep pages cost a bigger heap; past this the caller should refine the query instead. */
export const MAX_RANK = 10_000;

/** What `GET /v1/images/search` and `tessera search` ask for: text or an image id, and a page. */
export type SearchRequest = ({ kind: 'text'; text: string } | { kind: 'like'; id: string }) & Page;

export const MAX_QUERY_CHARS = 1000;

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new TesseraError('TESSERA_ERR_SEARCH', `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, { param: name });
  }
  return n;
}

/** Checks a page: limit 1..MAX_LIMIT, offset >= 0, and offset + limit within MAX_RANK. */
export function checkPage(page: Page): Page {
  const limit = integer(page.limit, 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
  const offset = integer(page.offset, 'offset', 0, 0, MAX_RANK - limit);
  return { offset, limit };
}

/**
 * Reads search parameters as they arrive from a query string or the command line:
 * exactly one of `query` (text, searched by its CLIP text embedding) and `like` (the
 * id of a stored image), with optional `limit` and `offset`.
 */
export function parseSearchRequest(params: Record<string, unknown>): SearchRequest {
  for (const key of Object.keys(params)) {
    if (!['query', 'like', 'limit', 'offset'].includes(key)) {
      throw new TesseraError('TESSERA_ERR_SEARCH', `unknown search parameter ${JSON.stringify(key)}; allowed: "query", "like", "limit", "offset"`, { param: key });
    }
  }
  const page = checkPage({ limit: params.limit as number, offset: params.offset as number });
  const { query, like } = params;
  if (query !== undefined && like !== undefined) {
    throw new TesseraError('TESSERA_ERR_SEARCH', 'give either query (text) or like (an image id), not both', { param: 'like' });
  }
  if (query !== undefined) {
    if (typeof query !== 'string' || query.trim() === '') {
      throw new TesseraError('TESSERA_ERR_SEARCH', 'query must be non-empty text', { param: 'query' });
    }
    // Counted in code points, as prompts are (an emoji is one character).
    const length = promptLength(query);
    if (length > MAX_QUERY_CHARS) {
      throw new TesseraError('TESSERA_ERR_SEARCH', `query has ${length} characters (Unicode code points); at most ${MAX_QUERY_CHARS} are allowed`, { param: 'query' });
    }
    return { kind: 'text', text: query.trim(), ...page };
  }
  if (like !== undefined) {
    if (typeof like !== 'string' || like.trim() === '') {
      throw new TesseraError('TESSERA_ERR_SEARCH', 'like must be the id of a stored image', { param: 'like' });
    }
    return { kind: 'like', id: like.trim(), ...page };
  }
  throw new TesseraError('TESSERA_ERR_SEARCH', 'give query (text to search by meaning) or like (an image id for "more like this")', { param: 'query' });
}
