/**
 * GET /v1/images/search: past images ranked by meaning. `query=TEXT` ranks by cosine with
 * the CLIP text embedding of TEXT (computed in the default model's inference child);
 * `like=IMAGE_ID` ("more like this") by cosine with a stored image's embedding, the image
 * itself left out. Only the caller's tenant's images are searched (src/server/tenancy.ts). Paginated with `limit` (1–100) and `offset`; errors in the OpenAI
 * envelope, naming the parameter.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../api-error.js';
import { isTesseraError, TesseraError } from '../../errors.js';
import { parseSearchRequest, type SearchRequest } from '../../search/params.js';
import { hitLocation } from '../image-search.js';
import { fileUrl } from './urls.js';
import { callerOf, ownerFilter } from '../tenancy.js';

export const searchRoutes: FastifyPluginAsync = async (app) => {
  const { search, searchOff, engine, models, signer } = app.tessera;

  app.get<{ Querystring: Record<string, string> }>(
    '/v1/images/search',
    {
      schema: {
        tags: ['images'],
        summary: 'Search past images by meaning (query=TEXT) or likeness (like=IMAGE_ID), ranked by CLIP cosine',
        querystring: {
          type: 'object',
          properties: {
            query: { type: 'string', description: 'text to search for (CLIP text embedding)' },
            like: { type: 'string', description: 'id of a stored image ("<generation id>/<file>", as data[].id returns): more like this' },
            limit: { type: 'integer', minimum: 1, maximum: 100, description: 'results per page (default 20)' },
            offset: { type: 'integer', minimum: 0, description: 'results to skip (default 0)' },
          },
        },
      },
    },
    async (request) => {
      let params: SearchRequest;
      try {
        params = parseSearchRequest(request.query);
      } catch (error) {
        if (isTesseraError(error)) throw new ApiError(error.code, error.message, { param: error.param });
        throw error;
      }
      if (search === null) throw new ApiError('TESSERA_ERR_SEARCH', searchOff ?? 'search is off', { param: params.kind === 'text' ? 'query' : 'like' });
      const inference = engine.slots.get(models[0].id)!.inference;
      let page;
      try {
        page = await search.search(params, (text) => {
          if (inference.embedText === undefined) {
            throw new TesseraError('TESSERA_ERR_SEARCH', 'search by text needs CLIP in this process, and with --queue it runs on the workers; search with ?like=IMAGE_ID instead', { param: 'query' });
          }
          return inference.embedText(text);
        }, ownerFilter(callerOf(request)));
      } catch (error) {
        if (isTesseraError(error)) throw new ApiError(error.code, error.message, { param: error.param });
        throw error;
      }
      return {
        object: 'list',
        data: page.data.map((hit) => {
          const { generationId, file } = hitLocation(hit);
          return { id: hit.id, object: 'image.search_result', score: hit.score, generation_id: generationId, prompt: hit.prompt, model: hit.model, created: hit.created, url: fileUrl(generationId, file, signer) };
        }),
        total: page.total,
        offset: page.offset,
        limit: page.limit,
        has_more: page.offset + page.data.length < page.total,
      };
    },
  );
};
