/**
 * Liveness, readiness (models loaded) and Prometheus metrics.
 *
 * Both health answers tell the truth when the process cannot make progress (issue 23;
 * docs/api.md "Health"): /healthz is 503 `unhealthy` and /readyz 503 `not_ready` when
 *   - the event loop was later than `maxLoopLagMs` (--max-loop-lag-ms, default 5 s) within
 *     the last 10 to 20 s (src/server/loop-lag.ts), or
 *   - a model has requests running and its inference sent no event (a step, a stage, a
 *     preview) for `stallMs` (--stall-ms, default 120 s): sampling has stalled.
 * Each reason is named in the answer's `problems`.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Engine } from '../engine/engine.js';
import type { LoopLag } from '../loop-lag.js';

export interface HealthLimits {
  stallMs: number;
  maxLoopLagMs: number;
}

/** Why the process cannot make progress now; empty when it can. */
export function healthProblems(engine: Engine, lag: LoopLag, limits: HealthLimits, now = Date.now()): string[] {
  const problems: string[] = [];
  const late = lag.recentMaxMs();
  if (late > limits.maxLoopLagMs) problems.push(`event loop ${Math.round(late)} ms late (limit ${limits.maxLoopLagMs} ms)`);
  for (const slot of engine.slots.values()) {
    const silent = now - slot.lastActivity;
    if (slot.running > 0 && silent > limits.stallMs) problems.push(`model ${slot.ref.id}: ${slot.running} running, no sampling step for ${Math.round(silent / 1000)} s (limit ${limits.stallMs / 1000} s)`);
  }
  return problems;
}

export const healthRoutes: FastifyPluginAsync = async (app) => {
  const { engine, metrics, options, loopLag } = app.tessera;
  const problems = () => healthProblems(engine, loopLag, options);
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The HTTP process is alive and making progress' } }, async (_request, reply) => {
    const found = problems();
    return reply.code(found.length === 0 ? 200 : 503).send(found.length === 0 ? { status: 'ok' } : { status: 'unhealthy', problems: found });
  });
  app.get('/readyz', { schema: { tags: ['health'], summary: 'Every model is loaded in its inference worker and the process makes progress' } }, async (_request, reply) => {
    const models = [...engine.slots.values()].map((s) => ({
      id: s.ref.id,
      ready: s.inference.ready,
      restarts: s.inference.restarts,
      queued: s.waiting.length,
      running: s.running,
      error: s.inference.lastError,
    }));
    const found = problems();
    const ready = models.every((m) => m.ready) && !engine.shuttingDown && found.length === 0;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', models, ...(found.length === 0 ? {} : { problems: found }) });
  });
  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
};
