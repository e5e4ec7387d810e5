/**
 * `tessera worker --metrics-port`: Prometheus metrics and readiness of one worker, and the
 * queue it serves. Scrape every worker; sums across them give the fleet:
 *   tessera_queue_jobs{state}                 jobs waiting, active, delayed, failed, completed (same on every worker)
 *   tessera_queue_workers                     workers connected to the queue
 *   tessera_worker_jobs_total{outcome}        jobs this worker completed / failed
 *   tessera_worker_images_total               candidate images it sampled
 *   tessera_worker_busy_seconds_total         time it held jobs (throughput: rate(images) / rate(busy))
 *   tessera_queue_stalled_recoveries_total    dead workers' jobs its stalled check put back
 * /readyz: 200 when Redis answers and the model is loaded in the inference child.
 */
import http from 'node:http';
import { Queue } from 'bullmq';
import { Counter, Gauge, Registry } from 'prom-client';
import type { QueueConnection } from './connection.js';
import { redisOptions } from './connection.js';
import type { QueueWorker } from './worker.js';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

export function workerRegistry(worker: QueueWorker, queue: Queue): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ worker: worker.stats.name, queue: worker.queueName });
  new Gauge({
    name: 'tessera_queue_jobs',
    help: 'Jobs in the queue by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await queue.getJobCounts(...STATES);
      for (const state of STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: 'tessera_queue_workers',
    help: 'Workers connected to the queue',
    registers: [registry],
    async collect() {
      this.set(await queue.getWorkersCount());
    },
  });
  // Counters mirror the worker's own tallies at scrape time.
  const mirror = (name: string, help: string, read: () => Record<string, number>, labelNames: string[] = []) =>
    new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const [label, value] of Object.entries(read())) this.inc(labelNames.length === 0 ? {} : { [labelNames[0]]: label }, value);
      },
    });
  const s = worker.stats;
  mirror('tessera_worker_jobs_total', 'Jobs this worker finished, by outcome', () => ({ completed: s.completed, failed: s.failed }), ['outcome']);
  mirror('tessera_worker_images_total', 'Candidate images this worker sampled', () => ({ all: s.images }));
  mirror('tessera_worker_busy_seconds_total', 'Seconds this worker held jobs', () => ({ all: s.busyMs / 1000 }));
  mirror('tessera_queue_stalled_recoveries_total', "Dead workers' jobs this worker's stalled check moved back to waiting", () => ({ all: s.stalledRecoveries }));
  return registry;
}

/** Serves GET /metrics and /readyz on host:port (port 0: any free one). */
export async function serveWorkerMetrics(worker: QueueWorker, connection: QueueConnection, host: string, port: number): Promise<MetricsServer> {
  const queue = new Queue(worker.queueName, { connection: redisOptions(connection) });
  const registry = workerRegistry(worker, queue);
  const server = http.createServer((request, response) => {
    void (async () => {
      if (request.url === '/metrics') {
        try {
          const body = await registry.metrics();
          response.writeHead(200, { 'content-type': registry.contentType }).end(body);
        } catch (error) {
          response.writeHead(503, { 'content-type': 'text/plain' }).end(`queue unavailable: ${(error as Error).message}\n`);
        }
      } else if (request.url === '/readyz') {
        // Any command answers whether Redis is reachable (commands wait through an outage: time out here).
        let timer: NodeJS.Timeout | undefined;
        const redis = await Promise.race([queue.getWorkersCount().then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), 1000)))]).catch(() => false);
        clearTimeout(timer);
        const ready = redis && worker.ready;
        response.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: ready ? 'ready' : 'not_ready', redis, model: worker.ready, worker: worker.stats.name }) + '\n');
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /metrics, /readyz\n');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queue.close();
    },
  };
}
