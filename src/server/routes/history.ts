/** History: list/search, one record, delete (removes the files), and the stored files themselves. */
import { createReadStream } from 'node:fs';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../api-error.js';
import { withUrls, fileUrl } from './urls.js';
import { idParams } from './schemas.js';

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
  const { store, engine } = app.tessera;

  app.get<{ Querystring: { q?: string; limit?: string; offset?: string; cursor?: string } }>(
    '/v1/history',
    {
      schema: {
        tags: ['history'],
        summary: 'Past generations, newest first; q searches prompts; cursor (next_cursor of the page before) pages on',
        querystring: { type: 'object', properties: { q: { type: 'string' }, limit: { type: 'integer' }, offset: { type: 'integer' }, cursor: { type: 'string' } } },
      },
    },
    async (request) => {
      const q = request.query.q;
      if (q !== undefined && (typeof q !== 'string' || q.length > 500)) throw new ApiError('TESSERA_ERR_OPTION', 'q must be a string of at most 500 characters', { param: 'q' });
      const cursor = cursorQuery(request.query.cursor);
      const { total, entries, nextCursor } = store.list({ q, limit: intQuery('limit', request.query.limit, 1, 200), offset: intQuery('offset', request.query.offset, 0, 1e9), cursor });
      return {
        object: 'list',
        total,
        data: entries.map((e) => ({ ...e, thumbnail_url: e.thumbnail === null ? null : fileUrl(e.id, e.thumbnail) })),
        next_cursor: nextCursor,
      };
    },
  );

  app.get<{ Params: { id: string } }>('/v1/history/:id', { schema: { tags: ['history'], summary: 'One stored generation record', params: idParams } }, async (request) => {
    const record = await store.get(request.params.id);
    if (record === null) throw historyNotFound(request.params.id);
    return withUrls(record);
  });

  app.delete<{ Params: { id: string } }>('/v1/history/:id', { schema: { tags: ['history'], summary: 'Delete a generation and its files', params: idParams } }, async (request) => {
    const { id } = request.params;
    const job = engine.get(id);
    if (job !== undefined && !job.finished) {
      throw new ApiError('TESSERA_ERR_JOB_RUNNING', 'the job is still running; cancel it with DELETE /v1/jobs/{id} first', { param: 'id' });
    }
    if (!(await store.delete(id))) throw historyNotFound(id);
    app.tessera.search?.remove(id);
    return { id, object: 'generation.deleted', deleted: true };
  });

  app.get<{ Params: { id: string; name: string } }>(
    '/v1/files/:id/:name',
    { schema: { tags: ['history'], summary: 'A stored image (ids are unguessable; the URL is the capability)' } },
    async (request, reply) => {
      const { id, name } = request.params;
      const file = store.filePath(id, name);
      if (file === null) throw new ApiError('TESSERA_ERR_NOT_FOUND', 'no such file');
      const ext = name.slice(name.lastIndexOf('.') + 1);
      return reply
        .header('content-type', CONTENT_TYPES[ext])
        .header('cache-control', 'private, max-age=31536000, immutable')
        .header('content-disposition', `inline; filename="${name}"`)
        .send(createReadStream(file));
    },
  );
};
