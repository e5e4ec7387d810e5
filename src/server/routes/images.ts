/** OpenAI Images API: POST /v1/images/generations (JSON or SSE stream) and GET /v1/models. */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../api-error.js';
import { parseImageParams, sizesFor, type ModelRef } from '../params.js';
import { answerJob } from './answer.js';
import { errorSchema, imageRequestSchema } from './schemas.js';

/** When the package was made, as far as the disk says: its manifest's modification time (Unix seconds). */
function createdOf(ref: ModelRef): number {
  try {
    return Math.floor(statSync(path.join(ref.dir, 'manifest.json')).mtimeMs / 1000);
  } catch {
    return 0;
  }
}

function modelObject(ref: ModelRef, clip: string | null) {
  const m = ref.manifest;
  return {
    id: ref.id,
    object: 'model',
    created: createdOf(ref),
    owned_by: 'tessera',
    description: m.description,
    native_size: `${m.image.size}x${m.image.size}`,
    sizes: sizesFor(m),
    steps: m.image.grid.height * m.image.grid.width,
    rerank: clip !== null || m.clip !== null,
    sampling: m.sampling,
  };
}

export function parseContext(app: { tessera: { models: ModelRef[]; options: { maxCandidates: number; previewEvery: number } } }) {
  return { models: app.tessera.models, maxCandidates: app.tessera.options.maxCandidates, defaultPreviewEvery: app.tessera.options.previewEvery };
}

export const imageRoutes: FastifyPluginAsync = async (app) => {
  app.get('/v1/models', { schema: { tags: ['models'], summary: 'Installed model packages' } }, async () => ({
    object: 'list',
    data: app.tessera.models.map((ref) => modelObject(ref, app.tessera.options.clip)),
  }));

  app.get<{ Params: { id: string } }>('/v1/models/:id', { schema: { tags: ['models'], summary: 'One model package' } }, async (request) => {
    const ref = app.tessera.models.find((m) => m.id === request.params.id);
    if (ref === undefined) throw new ApiError('TESSERA_ERR_MODEL_UNKNOWN', `model ${JSON.stringify(request.params.id)} does not exist`, { param: 'model' });
    return modelObject(ref, app.tessera.options.clip);
  });

  app.post(
    '/v1/images/generations',
    {
      schema: {
        tags: ['images'],
        summary: 'Create images (OpenAI Images API compatible)',
        body: imageRequestSchema,
        response: { 400: errorSchema, 429: errorSchema, 500: errorSchema },
      },
    },
    async (request, reply) => {
      const params = parseImageParams(request.body, { ...parseContext(app), sync: true });
      return answerJob(app, params, request, reply, 'image_generation');
    },
  );
};
