/** `tessera serve`: build the app, listen (127.0.0.1 by default), shut down gracefully on SIGTERM/SIGINT. */
import type { FastifyInstance } from 'fastify';
import { TesseraError, isTesseraError } from '../errors.js';
import { resolveModelRef } from '../hub/resolve.js';
import { numberFlag, parseCommandLine, precisionFromFlags, PRECISION_FLAGS, PRECISION_USAGE } from './args.js';
import { footprintFromFlags, FOOTPRINT_FLAGS, FOOTPRINT_USAGE } from './footprint-flags.js';
import { build } from '../server/app.js';
import { deviceFromFlag, queueClientFromFlags, QUEUE_CLIENT_FLAGS, QUEUE_RETRY_USAGE, stepRowsFromFlags, STEP_ROWS_FLAGS, STEP_ROWS_USAGE } from './shared-flags.js';

const SERVE_USAGE = `Usage: tessera serve [options]

Starts the HTTP API (OpenAI-compatible /v1/images/generations, async /v1/jobs, history)
and the gallery page at /. Inference runs in a child process per model.

Options:
  --host HOST          interface to bind (default: 127.0.0.1; 0.0.0.0 exposes it)
  --port N             port (default: 8080)
  --model DIR          model package folder; repeat for several (default: the embedded model)
  --device NAME        cpu, cuda or webgpu (default: cpu)
${PRECISION_USAGE}
                       (auto probes at --max-batch-rows rows)
  --clip DIR           rank with this CLIP (transformers.js layout) instead of each package's own
  --data DIR           results and history database (default: data/server)
  --api-key KEY        require "Authorization: Bearer KEY"; repeatable (also TESSERA_API_KEYS=k1,k2).
                       Each key is a tenant: it sees only its own jobs, history, files and search
  --admin-key KEY      a key that sees every tenant's work; repeatable (also TESSERA_ADMIN_KEYS)
  --file-url-ttl S     with keys, file URLs are signed and expire after S seconds (default: 3600)
  --max-queue N        requests waiting per model before 429 (default: 8)
  --timeout-ms N       per-request limit once sampling starts (default: 300000)
  --concurrency N      requests per model sharing each sampling step (default: 8)
${STEP_ROWS_USAGE}
  --rate-limit N       requests per client per minute, 0 disables (default: 120)
  --max-candidates N   most candidates per request (default: 64)
  --public-url URL     base of "url" responses (default: the address the client
                       connected to; set it behind a proxy or for a DNS name)
  --worker-watchdog-ms N  replace an inference child silent (hung) this long (default: 60000)
  --request-timeout-ms N  most time to receive a whole request (headers and body); then
                       408 and the connection closes (default: 60000)
  --headers-timeout-ms N  most time to receive a request's headers (default: 20000)
  --keep-alive-timeout-ms N  close an idle keep-alive connection after this (default: 72000)
  --stall-ms N         /healthz and /readyz say 503 when a model has requests running and
                       no sampling step for this long (default: 120000)
  --max-loop-lag-ms N  /healthz and /readyz say 503 when the event loop was this late in
                       the last 10 s (default: 5000)
  --queue URL          run requests on "tessera worker"s through Redis (redis://HOST:PORT[/DB])
                       instead of a local inference child; /readyz needs Redis and a worker
                       (docs/queue.md)
${QUEUE_RETRY_USAGE}
  --quiet              no request log
  --help               this text
Footprint (in every response's tessera_footprint, record and PNG):
${FOOTPRINT_USAGE}`;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  model: { type: 'string', multiple: true },
  device: { type: 'string' },
  clip: { type: 'string' },
  data: { type: 'string' },
  'api-key': { type: 'string', multiple: true },
  'admin-key': { type: 'string', multiple: true },
  'file-url-ttl': { type: 'string' },
  'max-queue': { type: 'string' },
  'timeout-ms': { type: 'string' },
  concurrency: { type: 'string' },
  ...STEP_ROWS_FLAGS,
  'rate-limit': { type: 'string' },
  'max-candidates': { type: 'string' },
  'public-url': { type: 'string' },
  'worker-watchdog-ms': { type: 'string' },
  'request-timeout-ms': { type: 'string' },
  'headers-timeout-ms': { type: 'string' },
  'keep-alive-timeout-ms': { type: 'string' },
  'stall-ms': { type: 'string' },
  'max-loop-lag-ms': { type: 'string' },
  ...QUEUE_CLIENT_FLAGS,
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
  ...FOOTPRINT_FLAGS,
  ...PRECISION_FLAGS,
} as const;

/** build(), with a filesystem failure (the data folder) as a one-line TesseraError naming --data. */
async function buildOrExplain(options: Parameters<typeof build>[0]): Promise<FastifyInstance> {
  try {
    return await build(options);
  } catch (error) {
    if (isTesseraError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new TesseraError('TESSERA_ERR_OUTPUT', `cannot use the data folder ${JSON.stringify(options?.dataDir ?? 'data/server')}: ${code}`, { param: 'data', cause: error });
    }
    throw error;
  }
}

/**
 * Listens, then waits for every model to load in its child. Any failure closes the app
 * (which stops the inference children: nothing is left running to keep the process alive)
 * and becomes a one-line TesseraError, so `tessera serve` exits non-zero at once.
 */
async function startOrClose(app: FastifyInstance, host: string, port: number): Promise<string> {
  let address: string;
  try {
    address = await app.listen({ host, port });
  } catch (error) {
    await app.close().catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE' ? 'the port is already in use' : code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' ? 'no such address on this machine' : (error as Error).message;
    throw new TesseraError('TESSERA_ERR_LISTEN', `cannot listen on ${host}:${port}: ${reason}`, { param: code === 'EADDRINUSE' ? 'port' : 'host', cause: error });
  }
  try {
    // A broken model package is found once, here, not by every request (the child does not respawn for it).
    await app.tessera.engine.start();
  } catch (error) {
    await app.close().catch(() => undefined);
    if (isTesseraError(error)) throw error;
    throw new TesseraError('TESSERA_ERR_WORKER', `the inference worker failed to start: ${(error as Error).message}`, { cause: error });
  }
  return address;
}

export async function runServe(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(SERVE_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new TesseraError('TESSERA_ERR_UNKNOWN_FLAG', `unexpected argument ${JSON.stringify(positionals[0])}`);
  const device = deviceFromFlag(values.device);
  const port = numberFlag('port', values.port) ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TesseraError('TESSERA_ERR_OPTION', `--port must be from 0 to 65535, got ${port}`, { param: 'port' });
  const envList = (name: string) => (process.env[name] ?? '').split(',').map((k) => k.trim()).filter((k) => k !== '');
  const rate = numberFlag('rate-limit', values['rate-limit']);
  const queue = queueClientFromFlags(values);
  // Loaded only with --queue: BullMQ stays out of a plain server.
  const inference = queue === undefined ? undefined : (await import('../queue/remote.js')).queueInference(queue.queue, queue.settings);
  const app = await buildOrExplain({
    inference,
    models: values.model?.map((model) => resolveModelRef(model, 'package') ?? model),
    device,
    precision: precisionFromFlags(values),
    clip: resolveModelRef(values.clip, 'clip'),
    dataDir: values.data,
    apiKeys: [...(values['api-key'] ?? []), ...envList('TESSERA_API_KEYS')],
    adminKeys: [...(values['admin-key'] ?? []), ...envList('TESSERA_ADMIN_KEYS')],
    fileUrlTtl: numberFlag('file-url-ttl', values['file-url-ttl']),
    maxQueue: numberFlag('max-queue', values['max-queue']),
    timeoutMs: numberFlag('timeout-ms', values['timeout-ms']),
    concurrency: numberFlag('concurrency', values.concurrency),
    maxBatchRows: stepRowsFromFlags(values),
    rateLimit: rate === 0 ? false : rate,
    maxCandidates: numberFlag('max-candidates', values['max-candidates']),
    publicUrl: values['public-url'],
    workerWatchdogMs: numberFlag('worker-watchdog-ms', values['worker-watchdog-ms']),
    requestTimeoutMs: numberFlag('request-timeout-ms', values['request-timeout-ms']),
    headersTimeoutMs: numberFlag('headers-timeout-ms', values['headers-timeout-ms']),
    keepAliveTimeoutMs: numberFlag('keep-alive-timeout-ms', values['keep-alive-timeout-ms']),
    stallMs: numberFlag('stall-ms', values['stall-ms']),
    maxLoopLagMs: numberFlag('max-loop-lag-ms', values['max-loop-lag-ms']),
    logger: !values.quiet,
    footprint: footprintFromFlags(values),
  });
  const host = values.host ?? '127.0.0.1';
  const address = await startOrClose(app, host, port);
  process.stderr.write(`tessera: serving ${app.tessera.models.map((m) => m.id).join(', ')} at ${address} (gallery: ${address}/, docs: ${address}/docs)\n`);
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1' && app.tessera.options.apiKeys.length + app.tessera.options.adminKeys.length === 0) {
    process.stderr.write('tessera: warning: listening beyond loopback without API keys (--api-key)\n');
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write(`tessera: ${signal} again, exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      process.stderr.write(`tessera: ${signal}: finishing in-flight work (up to ${app.tessera.options.shutdownGraceMs} ms), then stopping\n`);
      app.close().then(
        () => resolve(0),
        (error: unknown) => {
          process.stderr.write(`tessera: shutdown failed: ${String(error)}\n`);
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
