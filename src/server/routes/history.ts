/**
 * History: list/search, one record, delete (removes the files), and the stored files
 * themselves. Every lookup is scoped to the caller's tenant (src/server/tenancy.ts): another
 * tenant's entry answers 404 exactly as a missing one does.
 */
import { createReadStream } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../api-error.js';
import { withUrls, fileUrl } from './urls.js';
import { idParams } from './schemas.js';
import { callerOf, canSee, ownerFilter } from '../tenancy.js';

const CONTENT_TYPES: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp' };

function intQuery(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new ApiError('TESSERA_ERR_OPTION', `${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`, { param: name });
  }
  return Number(value);
}

/** A history cursor: the `next_cursor` of the page before ("<created>.<rowid>", opaque to clients). */
function cursorQuery(value: string | undefined): { created: number; rowid: number } | undefined {
  if (value === undefined || value === '') return undefined;
  const match = /^(\d{1,15})\.(\d{1,15})$/.exec(value);
  if (match === null) throw new ApiError('TESSERA_ERR_OPTION', `cursor must be the next_cursor of a history page, got ${JSON.stringify(value.slice(0, 40))}`, { param: 'cursor' });
  return { created: Number(match[1]), rowid: Number(match[2]) };
}

function historyNotFound(id: string): ApiError {
  return new ApiError('TESSERA_ERR_NOT_FOUND', `no history entry with id ${JSON.stringify(id)}`, { param: 'id' });
}

export const historyRoutes: FastifyPluginAsync = async (app) => {
  const { store, engine, signer } = app.tessera;

  app.get<{ Querystring: { q?: string; limit?: string; offset?: string; cursor?: string } }>(
    '/v1/history',
    {
      schema: {
        tags: ['history'],
        summary: 'Past generations, newest first, each with its kept images; q searches prompts; cursor (next_cursor of the page before) pages on',
        querystring: { type: 'object', properties: { q: { type: 'string' }, limit: { type: 'integer' }, offset: { type: 'integer' }, cursor: { type: 'string' } } },
      },
    },
    async (request) => {
      const q = request.query.q;
      if (q !== undefined && (typeof q !== 'string' || q.length > 500)) throw new ApiError('TESSERA_ERR_OPTION', 'q must be a string of at most 500 characters', { param: 'q' });
      const scope = ownerFilter(callerOf(request));
      const cursor = cursorQuery(request.query.cursor);
      const { total, entries, nextCursor } = store.list({ q, limit: intQuery('limit', request.query.limit, 1, 200), offset: intQuery('offset', request.query.offset, 0, 1e9), cursor, scope });
      return {
        object: 'list',
        total,
        data: entries.map((e) => ({
          ...e,
          thumbnail_url: e.thumbnail === null ? null : fileUrl(e.id, e.thumbnail, signer),
          // Every kept image, best first, each with its (signed) URL: the gallery's grid shows them all.
          kept: e.kept.map((k) => ({ ...k, url: fileUrl(e.id, k.file, signer) })),
        })),
        next_cursor: nextCursor,
      };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/history/:id', { schema: { tags: ['history'], summary: 'One stored generation record', params: idParams } }, async (request) => {
    const record = await store.get(request.params.id, ownerFilter(callerOf(request)));
    if (record === null) throw historyNotFound(request.params.id);
    return withUrls(record, signer);
  });

  app.delete<{ Params: { id: string } }>('/v1/history/:id', { schema: { tags: ['history'], summary: 'Delete a generation and its files', params: idParams } }, async (request) => {
    const { id } = request.params;
    const scope = ownerFilter(callerOf(request));
    const job = engine.get(id);
    if (job !== undefined && !job.finished && canSee(callerOf(request), job.owner)) {
      throw new ApiError('TESSERA_ERR_JOB_RUNNING', 'the job is still running; cancel it with DELETE /v1/jobs/{id} first', { param: 'id' });
    }
    if (!(await store.delete(id, scope))) throw historyNotFound(id);
    app.tessera.search?.remove(id);
    return { id, object: 'generation.deleted', deleted: true };
  });

  app.get<{ Params: { id: string; name: string }; Querystring: { expires?: string; sig?: string } }>(
    '/v1/files/:id/:name',
    {
      schema: {
        tags: ['history'],
        summary: 'A stored image: a signed URL (expires, sig) as the API hands out, or the owner\'s key; with no keys configured, open',
        querystring: { type: 'object', properties: { expires: { type: 'string' }, sig: { type: 'string' } } },
      },
    },
    async (request, reply) => {
      const { id, name } = request.params;
      const caller = callerOf(request);
      let maxAge = 0;
      // The owner's (or an admin's) key opens its files; otherwise the URL's signature must.
      const byKey = signer === null || (request.tenant !== null && canSee(caller, store.ownerOf(id)));
      if (!byKey) {
        const { expires, sig } = request.query;
        if (expires === undefined && sig === undefined) {
          // Another tenant's file is as absent as a missing one.
          if (request.tenant !== null) throw new ApiError('TESSERA_ERR_NOT_FOUND', 'no such file');
          throw new ApiError('TESSERA_ERR_UNAUTHORIZED', 'a file needs a signed URL (as the API returns it) or the owner\'s key: send "Authorization: Bearer <key>"');
        }
        const check = signer.check(id, name, expires, sig);
        if (check === 'forged') throw new ApiError('TESSERA_ERR_URL_SIGNATURE', 'the file URL\'s signature does not match: use the URL exactly as the API returned it');
        if (check === 'expired') throw new ApiError('TESSERA_ERR_URL_EXPIRED', `the file URL expired at ${new Date(Number(expires) * 1000).toISOString()}; fetch a fresh one from the history, job or search answer`);
        maxAge = signer.remaining(expires as string);
      }
      const file = store.filePath(id, name);
      if (file === null) throw new ApiError('TESSERA_ERR_NOT_FOUND', 'no such file');
      const ext = name.slice(name.lastIndexOf('.') + 1);
      return reply
        .header('content-type', CONTENT_TYPES[ext])
        .header('cache-control', signer === null ? 'private, max-age=31536000, immutable' : `private, max-age=${maxAge}`)
        .header('content-disposition', `inline; filename="${name}"`)
        .send(createReadStream(file));
    },
  );
};
