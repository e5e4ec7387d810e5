/**
 * The answer of every image route once its request is parsed: submit the job to the engine,
 * then either wait and answer in OpenAI's ImagesResponse shape, or stream SSE events
 * (`<kind>.partial_image` previews, `<kind>.completed` per kept image): image_generation for
 * generations, image_edit for edits, as OpenAI names them.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api-error.js';
import type { Job, JobEvent } from '../engine/job.js';
import type { ImageParams } from '../params.js';
import { logServerError } from '../plugins/errors.js';
import { openSse } from '../sse.js';
import { baseUrl, fileUrl } from './urls.js';
import type { UrlSigner } from '../signed-urls.js';
import { callerOf } from '../tenancy.js';

export type StreamKind = 'image_generation' | 'image_edit';

/** The image object of a response: OpenAI's fields plus Tessera's (score, seed, candidate index, rank). */
function imageObject(job: Job, index: number, request: FastifyRequest, publicUrl: string | undefined, signer: UrlSigner | null) {
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
    : { url: baseUrl(request, publicUrl) + fileUrl(job.id, kept.stored.file, signer), ...common };
}

/** Cancels the job when the client goes away before the response is complete. */
function cancelOnDisconnect(reply: FastifyReply, onGone: () => void): void {
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) onGone();
  });
}

/** Submits `params` and answers: JSON after the job, or an SSE stream of its events. */
export async function answerJob(app: FastifyInstance, params: ImageParams, request: FastifyRequest, reply: FastifyReply, kind: StreamKind) {
  const { engine, signer } = app.tessera;
  const publicUrl = app.tessera.options.publicUrl;
  // The job, its files and its history entry belong to the caller's tenant (issue 23).
  const job = engine.submit(params, callerOf(request).id);
  request.log.info({ job: job.id, kind }, 'generation queued');
  if (!params.stream) {
    cancelOnDisconnect(reply, () => engine.cancel(job, 'disconnected'));
    await job.done; // rejects with ApiError, which the error plugin sends
    return {
      created: job.created,
      id: job.id,
      model: params.model.id,
      data: job.kept.map((_, i) => imageObject(job, i, request, publicUrl, signer)),
      size: params.size.label,
      native_size: job.record?.native_size,
      upscaled: params.size.upscaled,
      output_format: params.outputFormat,
      // What was done to an input image to fit the model (resize, crop, format); null for none or no input.
      input_adjusted: params.resolved.image?.adjusted ?? null,
      quality: params.quality,
      background: 'opaque',
      warnings: job.record?.warnings ?? [],
      usage: job.record?.usage ?? null,
      // Extension field (not OpenAI's): what the request cost, docs/footprint.md.
      tessera_footprint: job.record?.footprint ?? null,
      // Extension field: which precision ran and why (docs/api.md).
      tessera_precision: job.record?.precision ?? null,
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
          type: `${kind}.partial_image`,
          b64_json: event.images[0],
          created_at: Math.floor(Date.now() / 1000),
          ...base,
          size: job.params.model.manifest.image.size + 'x' + job.params.model.manifest.image.size,
          output_format: 'png',
          partial_image_index: partials,
          step: event.step,
          steps: event.steps,
        },
        `${kind}.partial_image`,
      );
      partials += 1;
    } else if (event.type === 'result') {
      job.kept.forEach((_, i) => {
        const image = imageObject(job, i, request, publicUrl, signer);
        const { b64_json: _b64, url: _url, ...extra } = image as Record<string, unknown>;
        sse.send(
          {
            type: `${kind}.completed`,
            b64_json: job.kept[i].data.toString('base64'),
            url: baseUrl(request, publicUrl) + fileUrl(job.id, job.kept[i].stored.file, signer),
            created_at: Math.floor(Date.now() / 1000),
            ...base,
            ...extra,
            image_index: i,
            id: job.id,
            usage: job.record?.usage ?? null,
            tessera_footprint: job.record?.footprint ?? null,
            tessera_precision: job.record?.precision ?? null,
          },
          `${kind}.completed`,
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
}
