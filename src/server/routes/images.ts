/** OpenAI Images API: POST /v1/images/generations (JSON or SSE stream) and GET /v1/models. */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api-error.js';
import type { Job, JobEvent } from '../engine/job.js';
import { parseImageParams, sizesFor, type ModelRef } from '../params.js';
import { logServerError } from '../plugins/errors.js';
import { openSse } from '../sse.js';
import { errorSchema, imageRequestSchema } from './schemas.js';
import { baseUrl, fileUrl } from './urls.js';

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

/** The image object of a response: OpenAI's fields plus Tessera's (score, seed, candidate index, rank). */
function imageObject(job: Job, index: number, request: FastifyRequest, publicUrl: string | undefined) {
  const kept = job.kept[index];
  const common = {
    revised_prompt: null,
    clip_score: kept.stored.clip_score,
    seed: kept.stored.seed,
    candidate_index: kept.stored.candidate_index,
    rank: kept.stored.rank,
  };
  return job.params.responseFormat === 'b64_json'
    ? { b64_json: kept.data.toString('base64'), ...common }
    : { url: baseUrl(request, publicUrl) + fileUrl(job.id, kept.stored.file), ...common };
}

export function parseContext(app: { tessera: { models: ModelRef[]; options: { maxCandidates: number; previewEvery: number } } }) {
  return { models: app.tessera.models, maxCandidates: app.tessera.options.maxCandidates, defaultPreviewEvery: app.tessera.options.previewEvery };
}

/** Cancels the job when the client goes away before the response is complete. */
function cancelOnDisconnect(reply: FastifyReply, onGone: () => void): void {
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) onGone();
  });
}

export const imageRoutes: FastifyPluginAsync = async (app) => {
  const { engine } = app.tessera;
  const publicUrl = app.tessera.options.publicUrl;

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
      const job = engine.submit(params);
      request.log.info({ job: job.id }, 'generation queued');
      if (!params.stream) {
        cancelOnDisconnect(reply, () => engine.cancel(job, 'disconnected'));
        await job.done; // rejects with ApiError, which the error plugin sends
        return {
          created: job.created,
          id: job.id,
          model: params.model.id,
          data: job.kept.map((_, i) => imageObject(job, i, request, publicUrl)),
          size: params.size.label,
          native_size: job.record?.native_size,
          upscaled: params.size.upscaled,
          output_format: params.outputFormat,
          quality: params.quality,
          background: 'opaque',
          warnings: job.record?.warnings ?? [],
          usage: job.record?.usage ?? null,
          // Extension field (not OpenAI's): what the request cost, docs/footprint.md.
          tessera_footprint: job.record?.footprint ?? null,
        };
      }
      const sse = openSse(reply);
      sse.onDisconnect(() => engine.cancel(job, 'disconnected'));
      let partials = 0;
      const base = { size: params.size.label, quality: params.quality, background: 'opaque', output_format: params.outputFormat };
      const onEvent = (event: JobEvent) => {
        if (event.type === 'preview' && partials < params.partialImages && event.images.length > 0) {
          sse.send(
            {
              type: 'image_generation.partial_image',
              b64_json: event.images[0],
              created_at: Math.floor(Date.now() / 1000),
              ...base,
              size: job.params.model.manifest.image.size + 'x' + job.params.model.manifest.image.size,
              output_format: 'png',
              partial_image_index: partials,
              step: event.step,
              steps: event.steps,
            },
            'image_generation.partial_image',
          );
          partials += 1;
        } else if (event.type === 'result') {
          job.kept.forEach((_, i) => {
            const image = imageObject(job, i, request, publicUrl);
            const { b64_json: _b64, url: _url, ...extra } = image as Record<string, unknown>;
            sse.send(
              {
                type: 'image_generation.completed',
                b64_json: job.kept[i].data.toString('base64'),
                url: baseUrl(request, publicUrl) + fileUrl(job.id, job.kept[i].stored.file),
                created_at: Math.floor(Date.now() / 1000),
                ...base,
                ...extra,
                image_index: i,
                id: job.id,
                usage: job.record?.usage ?? null,
                tessera_footprint: job.record?.footprint ?? null,
              },
              'image_generation.completed',
            );
          });
          job.off('event', onEvent);
          sse.close();
        } else if (event.type === 'error') {
          if (job.error !== null) logServerError(request, ApiError.fromRecord(job.error));
          sse.send({ type: 'error', error: event.error }, 'error');
          job.off('event', onEvent);
          sse.close();
        }
      };
      job.on('event', onEvent);
    },
  );
};
