/** `tessera worker --queue redis://…`: the command-line face of the queue worker. */
import { numberFlag, parseCommandLine, precisionFromFlags, PRECISION_FLAGS, PRECISION_USAGE } from './args.js';
import { TesseraError } from '../errors.js';
import { resolveModelRef } from '../hub/resolve.js';
import { parseQueueUrl } from '../queue/connection.js';
import { queueSettingsFromFlags } from '../queue/recovery.js';
import { serveWorkerMetrics } from '../queue/metrics.js';
import { QueueWorker } from '../queue/worker.js';
import { deviceFromFlag, stepRowsFromFlags, STEP_ROWS_FLAGS, STEP_ROWS_USAGE } from './shared-flags.js';

const WORKER_USAGE = `Usage: tessera worker --queue redis://HOST:PORT[/DB] [options]

Runs the planned sampler batches of "tessera batch --queue" from a BullMQ queue on Redis,
with the same engine as "tessera serve": inference in a child process whose continuous
batch shares steps between the jobs this worker holds. Start as many as you like, on as
many machines; each takes the jobs of its model, device and CLIP (docs/queue.md).
Stops on SIGTERM or SIGINT after the jobs it holds are done (a second signal: at once).

Options:
  --queue URL          Redis: redis://HOST:PORT[/DB] (rediss:// for TLS; user:password@ allowed)
  --model DIR          model package folder (default: the embedded model)
  --device NAME        cpu, cuda or webgpu (default: cpu)
${PRECISION_USAGE}
                       (auto probes at --max-batch-rows rows)
  --clip DIR           rank with this CLIP instead of the package's own (as tessera batch --clip)
  --concurrency N      jobs held at once; their rows share sampling steps (1-64, default 2)
${STEP_ROWS_USAGE}
  --name TEXT          this worker's name in logs and results (default host:pid)
  --lock-ms N          job lock duration, renewed every half (default 30000)
  --stalled-ms N       how often to look for jobs of dead workers (default 30000)
  --max-stalled N      recoveries allowed per job before it fails (default 3)
  --metrics-port N     serve Prometheus /metrics and /readyz on this port (queue depth,
                       active jobs, this worker's throughput, stalled-job recoveries)
  --metrics-host HOST  address of that endpoint (default 127.0.0.1)
  --quiet              no log lines
  --help               this text`;

const OPTIONS = {
  queue: { type: 'string' },
  model: { type: 'string' },
  device: { type: 'string' },
  clip: { type: 'string' },
  concurrency: { type: 'string' },
  ...STEP_ROWS_FLAGS,
  name: { type: 'string' },
  'lock-ms': { type: 'string' },
  'stalled-ms': { type: 'string' },
  'max-stalled': { type: 'string' },
  'metrics-port': { type: 'string' },
  'metrics-host': { type: 'string' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
  ...PRECISION_FLAGS,
} as const;

export async function runWorkerCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, OPTIONS);
  if (values.help) {
    process.stdout.write(WORKER_USAGE + '\n');
    return 0;
  }
  if (positionals.length > 0) throw new TesseraError('TESSERA_ERR_OPTION', `tessera worker takes no arguments, got ${JSON.stringify(positionals[0])}`, { param: 'worker' });
  if (values.queue === undefined) throw new TesseraError('TESSERA_ERR_OPTION', '--queue redis://HOST:PORT[/DB] is required: the Redis the batch clients enqueue to', { param: 'queue' });
  const connection = parseQueueUrl(values.queue);
  const metricsPort = numberFlag('metrics-port', values['metrics-port']);
  if (metricsPort !== undefined && (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--metrics-port must be an integer from 0 to 65535, got ${JSON.stringify(values['metrics-port'])}`, { param: 'metrics-port' });
  }
  const device = deviceFromFlag(values.device);
  const log = values.quiet ? () => {} : (message: string) => process.stderr.write(`tessera worker: ${message}\n`);
  const worker = await QueueWorker.start({
    queue: values.queue,
    model: resolveModelRef(values.model, 'package'),
    device,
    precision: precisionFromFlags(values),
    clip: resolveModelRef(values.clip, 'clip'),
    concurrency: numberFlag('concurrency', values.concurrency),
    maxRows: stepRowsFromFlags(values),
    name: values.name,
    ...queueSettingsFromFlags(values, ['lock-ms', 'stalled-ms', 'max-stalled']),
    onLog: log,
  });
  const metrics = metricsPort === undefined ? null : await serveWorkerMetrics(worker, connection, values['metrics-host'] ?? '127.0.0.1', metricsPort);
  if (metrics !== null) log(`metrics on http://${values['metrics-host'] ?? '127.0.0.1'}:${metrics.port}/metrics`);
  return new Promise<number>((resolve) => {
    let signals = 0;
    const stop = (signal: NodeJS.Signals) => {
      signals++;
      log(signals === 1 ? `${signal}: finishing held jobs, then stopping` : `${signal}: stopping now`);
      void worker
        .close(signals > 1)
        .then(() => metrics?.close())
        .then(() => resolve(0));
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}
