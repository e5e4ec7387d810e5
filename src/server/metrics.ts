/** Prometheus metrics (prom-client), one registry per app so tests can build several. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  queueDepth: Gauge;
  running: Gauge;
  stageSeconds: Histogram;
  requestSeconds: Histogram;
  imagesGenerated: Counter;
  candidatesSampled: Counter;
  jobs: Counter;
  /** Inference child crashes followed by a restart (the metric keeps its published name). */
  inferenceRestarts: Counter;
  stepRowsMax: Gauge;
}

export function createMetrics(sources: {
  queueDepth: () => Record<string, number>;
  running: () => Record<string, number>;
  /** `serve --queue`: the shared queue's jobs by state and its workers, per model. */
  remoteQueues?: () => Record<string, { waiting: number; active: number; delayed: number; workers: number }>;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'tessera_' });
  const queueDepth = new Gauge({
    name: 'tessera_queue_depth',
    help: 'Generation requests waiting in the queue',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      for (const [model, depth] of Object.entries(sources.queueDepth())) this.set({ model }, depth);
    },
  });
  const running = new Gauge({
    name: 'tessera_jobs_running',
    help: 'Generation requests being sampled',
    labelNames: ['model'],
    registers: [registry],
    collect() {
      for (const [model, n] of Object.entries(sources.running())) this.set({ model }, n);
    },
  });
  const stageSeconds = new Histogram({
    name: 'tessera_stage_seconds',
    help: 'Latency of each pipeline stage (tokenize, prefill, decode, imageDecode, rerank, encode, total)',
    labelNames: ['stage'],
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const requestSeconds = new Histogram({
    name: 'tessera_job_seconds',
    help: 'Time from submission to completion of a generation request, queue wait included',
    labelNames: ['outcome'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
  const imagesGenerated = new Counter({ name: 'tessera_images_generated_total', help: 'Images returned (kept)', labelNames: ['model'], registers: [registry] });
  const candidatesSampled = new Counter({ name: 'tessera_candidates_sampled_total', help: 'Candidates sampled', labelNames: ['model'], registers: [registry] });
  const jobs = new Counter({ name: 'tessera_jobs_total', help: 'Generation requests by outcome', labelNames: ['outcome'], registers: [registry] });
  const inferenceRestarts = new Counter({ name: 'tessera_worker_restarts_total', help: 'Inference worker crashes followed by a restart', labelNames: ['model'], registers: [registry] });
  const stepRowsMax = new Gauge({
    name: 'tessera_step_rows_max',
    help: 'Most rows of one sampling step so far (requests sharing steps add their rows)',
    labelNames: ['model'],
    registers: [registry],
  });
  if (sources.remoteQueues !== undefined) {
    const remote = sources.remoteQueues;
    new Gauge({
      name: 'tessera_remote_queue_jobs',
      help: 'Jobs of the shared queue (serve --queue) by state, all replicas and batch clients included',
      labelNames: ['model', 'state'],
      registers: [registry],
      collect() {
        for (const [model, q] of Object.entries(remote())) {
          for (const state of ['waiting', 'active', 'delayed'] as const) this.set({ model, state }, q[state]);
        }
      },
    });
    new Gauge({
      name: 'tessera_remote_queue_workers',
      help: 'tessera workers connected to the shared queue (serve --queue)',
      labelNames: ['model'],
      registers: [registry],
      collect() {
        for (const [model, q] of Object.entries(remote())) this.set({ model }, q.workers);
      },
    });
  }
  return { stepRowsMax, registry, queueDepth, running, stageSeconds, requestSeconds, imagesGenerated, candidatesSampled, jobs, inferenceRestarts };
}
