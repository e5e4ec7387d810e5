/**
 * Async jobs: POST /v1/jobs -> 202, GET /v1/jobs/:id, GET /v1/jobs/:id/events (SSE), DELETE /v1/jobs/:id.
 * A job belongs to the tenant that queued it (src/server/tenancy.ts): another tenant's job,
 * running or stored, answers 404 job_not_found as a missing one does.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError } from '../api-error.js';
import type { Job, JobEvent } from '../engine/job.js';
import { parseImageParams } from '../params.js';
import { logServerError } from '../plugins/errors.js';
import { openSse } from '../sse.js';
import { ID_PATTERN } from '../store.js';
import { parseContext } from './images.js';
import { idParams, imageRequestSchema } from './schemas.js';
import { withUrls } from './urls.js';
import type { UrlSigner } from '../signed-urls.js';
import { callerOf, canSee, ownerFilter, type Tenant } from '../tenancy.js';

function jobNotFound(id: string): ApiError {
  return new ApiError('TESSERA_ERR_JOB_NOT_FOUND', `no job with id ${JSON.stringify(id)}`, { param: 'id' });
}

function present(job: Job, signer: UrlSigner | null): Record<string, unknown> {
  const json = job.toJSON();
  return { ...json, result: job.record === null ? null : withUrls(job.record, signer) };
}

function presentEvent(event: JobEvent, signer: UrlSigner | null): unknown {
  return event.type === 'result' ? { type: 'result', result: withUrls(event.result, signer) } : event;
}

export const jobRoutes: FastifyPluginAsync = async (app) => {
  const { engine, store, signer } = app.tessera;
  /** The live job `id` if `caller` may see it. */
  const visibleJob = (id: string, caller: Tenant): Job | undefined => {
    const job = engine.get(id);
    return job !== undefined && canSee(caller, job.owner) ? job : undefined;
  };
  /** The stored result `id` if `caller` may see it (a live job of another tenant hides it too). */
  const visibleRecord = async (id: string, caller: Tenant) => (ID_PATTERN.test(id) && engine.get(id) === undefined ? await store.get(id, ownerFilter(caller)) : null);

  app.post(
    '/v1/jobs',
    { schema: { tags: ['jobs'], summary: 'Queue a generation; returns 202 with the job id', body: imageRequestSchema } },
    async (request, reply) => {
      const body = request.body as Record<string, unknown> | null;
      if (body && typeof body === 'object' && body.stream === true) {
        throw new ApiError('TESSERA_ERR_OPTION', 'stream is not available on /v1/jobs: follow GET /v1/jobs/{id}/events instead', { param: 'stream' });
      }
      const params = parseImageParams(request.body, parseContext(app));
      const job = engine.submit(params, callerOf(request).id);
      // The job outlives this request: a server error it ends with is logged against the request that queued it.
      job.done.catch((error: unknown) => {
        if (error instanceof ApiError) logServerError(request, error);
      });
      return reply
        .code(202)
        .header('location', `/v1/jobs/${job.id}`)
        .send({ ...present(job, signer), links: { self: `/v1/jobs/${job.id}`, events: `/v1/jobs/${job.id}/events` } });
    },
  );

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { tags: ['jobs'], summary: 'Job status and result', params: idParams } }, async (request) => {
    const { id } = request.params;
    const caller = callerOf(request);
    const job = visibleJob(id, caller);
    if (job !== undefined) return present(job, signer);
    const record = await visibleRecord(id, caller);
    if (record === null) throw jobNotFound(id);
    return { id, object: 'job', created: record.created, status: 'succeeded', model: record.model, prompt: record.prompt, seed: record.seed, queue_position: null, result: withUrls(record, signer), error: null };
  });

  app.get<{ Params: { id: string }; Querystring: { cancel_on_disconnect?: string } }>(
    '/v1/jobs/:id/events',
    { schema: { tags: ['jobs'], summary: 'SSE: queued, started, progress, preview, result | error', params: idParams } },
    async (request, reply) => {
      const { id } = request.params;
      const caller = callerOf(request);
      const job = visibleJob(id, caller);
      if (job === undefined) {
        const record = await visibleRecord(id, caller);
        if (record === null) throw jobNotFound(id);
        const sse = openSse(reply);
        sse.send({ type: 'result', result: withUrls(record, signer) }, 'result');
        sse.close();
        return;
      }
      const sse = openSse(reply);
      // Previews and progress are superseded by the next one: a slow subscriber gets the newest, not all.
      const send = (event: JobEvent) =>
        sse.send(presentEvent(event, signer), event.type, event.type === 'preview' || event.type === 'progress' ? { coalesce: event.type } : {});
      // Catch up a late subscriber on where the job stands.
      if (job.status === 'queued') send({ type: 'queued', position: job.position });
      if (job.status === 'running') {
        send({ type: 'started' });
        send({ type: 'progress', step: job.progress.step, steps: job.progress.steps, tokens_per_second: 0 });
        if (job.lastPreview) send(job.lastPreview);
      }
      if (job.finished) {
        if (job.record) send({ type: 'result', result: job.record });
        else if (job.error) send({ type: 'error', status: job.status, error: ApiError.fromRecord(job.error).toJSON().error });
        sse.close();
        return;
      }
      const onEvent = (event: JobEvent) => {
        send(event);
        if (event.type === 'result' || event.type === 'error') {
          job.off('event', onEvent);
          sse.close();
        }
      };
      job.on('event', onEvent);
      const cancel = request.query.cancel_on_disconnect;
      sse.onDisconnect(() => {
        job.off('event', onEvent);
        if (cancel === '1' || cancel === 'true') engine.cancel(job, 'disconnected');
      });
    },
  );

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', { schema: { tags: ['jobs'], summary: 'Cancel a queued or running job', params: idParams } }, async (request, reply) => {
    const caller = callerOf(request);
    const job = visibleJob(request.params.id, caller);
    if (job === undefined) {
      if (engine.get(request.params.id) === undefined && store.has(request.params.id, ownerFilter(caller))) {
        throw new ApiError('TESSERA_ERR_JOB_FINISHED', 'the job already finished; delete its result with DELETE /v1/history/{id}', { param: 'id' });
      }
      throw jobNotFound(request.params.id);
    }
    if (!engine.cancel(job, 'cancelled')) {
      throw new ApiError('TESSERA_ERR_JOB_FINISHED', `the job already ${job.status === 'succeeded' ? 'succeeded' : 'ended'}; delete its result with DELETE /v1/history/{id}`, { param: 'id' });
    }
    await job.done.catch(() => undefined);
    return reply.send(present(job, signer));
  });
};
