/**
 * The fastify app factory: build(options) returns a ready-to-listen instance (listen is
 * the caller's business: `tessera serve`, tests, the bench). Concerns live in their own
 * plugins: security (helmet, rate limit, keys), errors (OpenAI envelope), docs, and the
 * route groups.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { readManifest } from '../model/manifest.js';
import { isTesseraError } from '../errors.js';
import { shuttingDownError } from './api-error.js';
import { Engine } from './engine/engine.js';
import type { InferenceFactory } from '../inference/inference.js';
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
import { LoopLag } from './loop-lag.js';
import { ImageSearch } from './image-search.js';
import { searchRoutes } from './routes/search.js';
import { embeddingSpace } from '../search/space.js';
import { loadUrlSecret, UrlSigner } from './signed-urls.js';

export interface Services {
  options: ResolvedServerOptions;
  models: ModelRef[];
  engine: Engine;
  store: ResultStore;
  /** Visual search over kept images (null when the first model ranks with no CLIP). */
  search: ImageSearch | null;
  /** Why search is unavailable, when it is. */
  searchOff: string | null;
  metrics: Metrics;
  /** Signs the file URLs the server hands out; null with no keys configured (URLs stay plain, as before). */
  signer: UrlSigner | null;
  /** Every route registered (method and URL), for the tenancy test's table and the docs. */
  routes: { method: string; url: string }[];
  /** The event loop's recent lateness (health). */
  loopLag: LoopLag;
}

declare module 'fastify' {
  interface FastifyInstance {
    tessera: Services;
  }
}

export interface BuildOptions extends ServerOptions {
  /** Wait for every model to load before resolving (default false: /readyz reports it). */
  waitReady?: boolean;
  /** Who runs requests (default: an inference child per model; `serve --queue`: src/queue/remote.ts). */
  inference?: InferenceFactory;
}

/** How often Node checks its request and header timeouts (its default, 30 s, would let a 10 s limit run to 40 s). */
const CONNECTIONS_CHECK_MS = 1000;

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
    // Requests that arrive while closing get the envelope (shutting_down, Retry-After) from
    // the hook below, not fastify's own 503 body (issue 23).
    return503OnClosing: false,
    // Deliberate HTTP timeouts (issue 23: a body shorter than its Content-Length held a
    // socket for Node's 300 s); `tessera serve --request-timeout-ms` and friends.
    requestTimeout: resolved.requestTimeoutMs,
    keepAliveTimeout: resolved.keepAliveTimeoutMs,
    http: { headersTimeout: resolved.headersTimeoutMs, connectionsCheckingInterval: CONNECTIONS_CHECK_MS },
  });
  app.setValidatorCompiler(() => (value) => ({ value }));
  // The API speaks JSON only: any other body type is 415.
  app.removeContentTypeParser('text/plain');

  const store = new ResultStore(resolved.dataDir);
  // Each model's embedding space; the index is the first model's (src/server/image-search.ts).
  const spaces = new Map(models.map((ref) => [ref.id, embeddingSpace(ref.dir, ref.manifest, resolved.clip)]));
  const firstSpace = spaces.get(models[0].id) ?? null;
  // An index made with another CLIP (the data folder reused with another --clip) cannot be
  // mixed with this one: the server still starts, and search says why it is off.
  let search: ImageSearch | null = null;
  let searchOff = firstSpace === null ? `model ${models[0].id} ranks with no CLIP: there are no embeddings to search` : null;
  if (firstSpace !== null) {
    try {
      search = new ImageSearch(resolved.dataDir, firstSpace);
    } catch (error) {
      if (!isTesseraError(error) || error.code !== 'TESSERA_ERR_INDEX') throw error;
      searchOff = `search is off: ${resolved.dataDir}/search.sqlite ${error.message.replace(/^the index /, '')}; move it away to start a new index`;
    }
  }
  let engine: Engine | null = null;
  const metrics = createMetrics({
    queueDepth: () => engine?.queueDepth() ?? {},
    running: () => engine?.runningCounts() ?? {},
    ...(options.inference === undefined ? {} : { remoteQueues: () => engine?.remoteQueues() ?? {} }),
  });
  engine = new Engine(
    {
      models: models.map((ref) => ({ dir: ref.dir, ref })),
      device: resolved.device,
      precision: resolved.precision,
      clip: resolved.clip,
      maxQueue: resolved.maxQueue,
      timeoutMs: resolved.timeoutMs,
      concurrency: resolved.concurrency,
      maxBatchRows: resolved.maxBatchRows,
      watchdogMs: resolved.workerWatchdogMs,
      inference: options.inference,
      shutdownGraceMs: resolved.shutdownGraceMs,
      footprint: resolved.footprint,
      onStored: search === null ? undefined : (ref, record, result, owner) => search.add(record, result, spaces.get(ref.id)?.space ?? null, owner),
    },
    store,
    metrics,
  );
  const keyed = resolved.apiKeys.length + resolved.adminKeys.length > 0;
  const signer = keyed ? new UrlSigner(loadUrlSecret(store.dataDir), resolved.fileUrlTtl) : null;
  const routes: Services['routes'] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ method, url: route.url });
  });
  const loopLag = new LoopLag();
  // Measured from when the app is ready: loading plugins is not serving.
  app.addHook('onReady', async () => loopLag.start());
  app.decorate('tessera', { options: resolved, models, engine, store, search, searchOff, metrics, signer, routes, loopLag });

  await app.register(errorsPlugin);
  app.addHook('onRequest', async () => {
    if (engine?.shuttingDown) throw shuttingDownError(resolved.shutdownGraceMs);
  });
  await app.register(securityPlugin);
  await app.register(docsPlugin);
  await app.register(healthRoutes);
  await app.register(imageRoutes);
  await app.register(imagePromptRoutes);
  await app.register(jobRoutes);
  await app.register(historyRoutes);
  await app.register(searchRoutes);
  await app.register(pageRoutes);

  const startEngine = engine.start();
  startEngine.catch((error: Error) => app.log.error({ err: error }, 'inference worker failed to start'));
  app.addHook('preClose', async () => {
    await app.tessera.engine.shutdown(resolved.shutdownGraceMs);
  });
  app.addHook('onClose', async () => {
    loopLag.stop();
    store.close();
    search?.close();
  });
  if (options.waitReady) await startEngine;
  return app;
}
