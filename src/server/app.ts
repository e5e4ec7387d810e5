/**
 * The fastify app factory: build(options) returns a ready-to-listen instance (listen is
 * the caller's business: `tessera serve`, tests, the bench). Concerns live in their own
 * plugins: security (helmet, rate limit, keys), errors (OpenAI envelope), docs, and the
 * route groups.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { readManifest } from '../model/manifest.js';
import { Engine } from './engine/engine.js';
import { createMetrics, type Metrics } from './metrics.js';
import { resolveServerOptions, type ResolvedServerOptions, type ServerOptions } from './options.js';
import type { ModelRef } from './params.js';
import { clientErrorHandler, errorsPlugin, frameworkErrors } from './plugins/errors.js';
import { docsPlugin } from './plugins/docs.js';
import { securityPlugin } from './plugins/security.js';
import { healthRoutes } from './routes/health.js';
import { historyRoutes } from './routes/history.js';
import { imageRoutes } from './routes/images.js';
import { imagePromptRoutes } from './routes/image-prompts.js';
import { jobRoutes } from './routes/jobs.js';
import { pageRoutes } from './routes/page.js';
import { ResultStore } from './store.js';

export interface Services {
  options: ResolvedServerOptions;
  models: ModelRef[];
  engine: Engine;
  store: ResultStore;
  metrics: Metrics;
}

declare module 'fastify' {
  interface FastifyInstance {
    tessera: Services;
  }
}

export interface BuildOptions extends ServerOptions {
  /** Wait for every model to load before resolving (default false: /readyz reports it). */
  waitReady?: boolean;
}

export async function build(options: BuildOptions = {}): Promise<FastifyInstance> {
  const resolved = resolveServerOptions(options);
  const models: ModelRef[] = resolved.models.map((dir) => {
    const manifest = readManifest(dir);
    return { id: manifest.name, dir, manifest };
  });
  const app = Fastify({
    logger: resolved.logStream ? { level: 'info', stream: resolved.logStream } : resolved.logger,
    // Router errors (a bad %-escape, a path parameter over 100 characters) and what Node's HTTP parser
    // refuses get the same envelope as everything else (plugins/errors.ts).
    frameworkErrors,
    clientErrorHandler,
    bodyLimit: resolved.bodyLimit,
    // Schemas document the API (OpenAPI); the handlers validate, so every error names its field
    // the same way and nothing is coerced silently ("4" is not 4).
    ajv: { customOptions: { coerceTypes: false } },
    forceCloseConnections: true,
    return503OnClosing: true,
  });
  app.setValidatorCompiler(() => (value) => ({ value }));
  // The API speaks JSON only: any other body type is 415.
  app.removeContentTypeParser('text/plain');

  const store = new ResultStore(resolved.dataDir);
  let engine: Engine | null = null;
  const metrics = createMetrics({ queueDepth: () => engine?.queueDepth() ?? {}, running: () => engine?.runningCounts() ?? {} });
  engine = new Engine(
    {
      models: models.map((ref) => ({ dir: ref.dir, ref })),
      device: resolved.device,
      clip: resolved.clip,
      maxQueue: resolved.maxQueue,
      timeoutMs: resolved.timeoutMs,
      concurrency: resolved.concurrency,
      maxBatchRows: resolved.maxBatchRows,
      watchdogMs: resolved.workerWatchdogMs,
    },
    store,
    metrics,
  );
  app.decorate('tessera', { options: resolved, models, engine, store, metrics });

  await app.register(errorsPlugin);
  await app.register(securityPlugin);
  await app.register(docsPlugin);
  await app.register(healthRoutes);
  await app.register(imageRoutes);
  await app.register(imagePromptRoutes);
  await app.register(jobRoutes);
  await app.register(historyRoutes);
  await app.register(pageRoutes);

  const startEngine = engine.start();
  startEngine.catch((error: Error) => app.log.error({ err: error }, 'inference worker failed to start'));
  app.addHook('preClose', async () => {
    await app.tessera.engine.shutdown(resolved.shutdownGraceMs);
  });
  app.addHook('onClose', async () => {
    store.close();
  });
  if (options.waitReady) await startEngine;
  return app;
}
