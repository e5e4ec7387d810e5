/** Liveness, readiness (models loaded) and Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  const { engine, metrics } = app.tessera;
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The HTTP process is alive' } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['health'], summary: 'Every model is loaded in its inference worker' } }, async (_request, reply) => {
    const models = [...engine.slots.values()].map((s) => ({
      id: s.ref.id,
      ready: s.inference.ready,
      restarts: s.inference.restarts,
      queued: s.waiting.length,
      running: s.running,
      error: s.inference.lastError,
    }));
    const ready = models.every((m) => m.ready) && !engine.shuttingDown;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', models });
  });
  app.get('/metrics', { schema: { tags: ['health'], summary: 'Prometheus metrics' } }, async (_request, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
};
