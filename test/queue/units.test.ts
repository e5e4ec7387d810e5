/** The queue's pieces without Redis: URLs, job ids, job data checks, failure codes, flags, the CLI's refusals. */
import { describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { readManifest } from '../../src/model/manifest.js';
import { resolveRequest } from '../../src/pipeline/settings.js';
import { errorOf } from '../../src/queue/client.js';
import { parseQueueUrl, redisOptions } from '../../src/queue/connection.js';
import { checkJobData, decodeEmbeddings, encodeEmbeddings, jobIdOf, queueNameOf, requestOf, type BatchJobData } from '../../src/queue/jobs.js';
import { QUEUE_DEFAULTS, queueSettingsFromFlags } from '../../src/queue/recovery.js';
import { failureMessage } from '../../src/queue/worker.js';
import { decodeResult, encodeResult } from '../../src/queue/generate-job.js';
import { fakeResult } from '../output/helpers.js';
import { TesseraError } from '../../src/errors.js';
import { cli, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return isTesseraError(error) ? error.code : `not a TesseraError: ${String(error)}`;
  }
  return undefined;
};

describe('queue URL', () => {
  it('parses host, port, database, credentials and TLS', () => {
    expect(parseQueueUrl('redis://127.0.0.1:6390')).toMatchObject({ host: '127.0.0.1', port: 6390, db: 0, tls: false, display: 'redis://127.0.0.1:6390/0' });
    expect(parseQueueUrl('redis://queue.internal/3')).toMatchObject({ host: 'queue.internal', port: 6379, db: 3 });
    const secret = parseQueueUrl('rediss://tessera:p%40ss@redis.example:6380/1');
    expect(secret).toMatchObject({ username: 'tessera', password: 'p@ss', tls: true, port: 6380, db: 1 });
    expect(secret.display).not.toContain('p@ss');
    expect(redisOptions(secret)).toMatchObject({ maxRetriesPerRequest: null, tls: {} });
    expect(parseQueueUrl('redis://[::1]:7000')).toMatchObject({ host: '::1', port: 7000 });
  });

  it.each([
    ['localhost:6379', 'scheme'],
    ['http://localhost:6379', 'scheme "http"'],
    ['redis://', 'no host'],
    ['redis://h:0', 'port'],
    ['redis://h:6379/16', 'database "16"'],
    ['redis://h:6379/x', 'database "x"'],
    ['redis://h:6379/0?x=1', 'query'],
    ['not a url', 'is not a URL'],
  ])('refuses %s with TESSERA_ERR_QUEUE_URL naming what is wrong', (url, why) => {
    expect(codeOf(() => parseQueueUrl(url))).toBe('TESSERA_ERR_QUEUE_URL');
    expect(() => parseQueueUrl(url)).toThrow(why);
  });
});

describe('jobs', () => {
  const manifest = readManifest(TINY_MODEL);
  const resolved = resolveRequest({ prompt: 'a red circle', seed: 3, candidates: 4, keep: 2, negativePrompt: 'blue', guidanceScale: 2 }, manifest);
  const engine = { model: { name: 'tiny', manifestSha256: 'ab'.repeat(32) }, device: 'cpu' as const, clip: null };
  const spec = { prompt: 'a red circle', negative_prompt: 'blue', seed: 3, candidates: 4, keep: 2, temperature: 1, top_k: 0, top_p: 1, guidance: 2, rerank: true, grid: true, model: 'tiny', model_sha256: 'ab'.repeat(32), device: 'cpu' as const };
  const data: BatchJobData = { format: 'tessera-queue-batch', version: 1, engine, batch: 2, prompts: [{ index: 5, stem: '0005-a-red-circle', spec, request: requestOf(resolved) }] };

  it('the planned request survives JSON and resolves to the same request on a worker (previews off)', () => {
    const again = resolveRequest(JSON.parse(JSON.stringify(requestOf(resolved))), manifest);
    expect(again).toEqual({ ...resolved, previewCandidates: 0 });
  });

  it('job ids: the same run and batch give the same id; any change gives another; BullMQ-safe', () => {
    const id = jobIdOf('run-a', data);
    expect(jobIdOf('run-a', JSON.parse(JSON.stringify(data)))).toBe(id);
    expect(jobIdOf('run-b', data)).not.toBe(id);
    expect(jobIdOf('run-a', { ...data, prompts: [{ ...data.prompts[0], spec: { ...spec, seed: 4 } }] })).not.toBe(id);
    expect(id).toMatch(/^b2-[0-9a-f]{32}$/);
  });

  it('one queue per model, device and CLIP', () => {
    const name = queueNameOf(engine);
    expect(name).toMatch(/^tessera-tiny-cpu-[0-9a-f]{12}$/);
    expect(queueNameOf({ ...engine, device: 'cuda' })).not.toBe(name);
    expect(queueNameOf({ ...engine, clip: { sha256: 'cd'.repeat(32) } })).not.toBe(name);
    expect(queueNameOf({ ...engine, model: { ...engine.model, manifestSha256: 'ef'.repeat(32) } })).not.toBe(name);
  });

  it.each([
    ['not an object', 7, 'is not an object'],
    ['another format', { ...data, format: 'x' }, 'has format "x"'],
    ['no prompts', { ...data, prompts: [] }, 'has no prompts'],
    ['a prompt without a request', { ...data, prompts: [{ index: 0, stem: 's', spec }] }, 'without index, stem, spec and request'],
    ['a stem with a path', { ...data, prompts: [{ ...data.prompts[0], stem: '../escape' }] }, 'not a plain file name'],
  ])('checkJobData refuses %s (TESSERA_ERR_QUEUE_JOB)', (_name, value, why) => {
    expect(codeOf(() => checkJobData(value))).toBe('TESSERA_ERR_QUEUE_JOB');
    expect(() => checkJobData(value)).toThrow(why);
  });

  it('a worker failure keeps its code across Redis; anything else is TESSERA_ERR_QUEUE_JOB_FAILED', () => {
    const error = errorOf(failureMessage(new TesseraError('TESSERA_ERR_PROMPT', 'prompt has a control character')), 'b0-x');
    expect(error).toMatchObject({ code: 'TESSERA_ERR_PROMPT', message: 'prompt has a control character' });
    expect(errorOf('job stalled more than allowable limit', 'b1-y')).toMatchObject({ code: 'TESSERA_ERR_QUEUE_JOB_FAILED', message: 'job b1-y failed: job stalled more than allowable limit' });
    expect(errorOf('[TESSERA_ERR_NOT_A_CODE] x', 'b2')).toMatchObject({ code: 'TESSERA_ERR_QUEUE_JOB_FAILED' });
  });
});

describe('embeddings in a job result (issue 22)', () => {
  it('survive JSON bit for bit, from a view into a larger buffer too', () => {
    const backing = new Float32Array([9, 0.1, -0.25, 1e-30, Math.PI, 9]);
    const embeddings = new Map([[3, backing.subarray(1, 5)], [0, new Float32Array([-0, 1])]]);
    const decoded = decodeEmbeddings(JSON.parse(JSON.stringify(encodeEmbeddings(embeddings))));
    expect(decoded).toEqual(embeddings);
    expect(Object.is(decoded!.get(0)![0], -0)).toBe(true);
    expect(decodeEmbeddings(undefined)).toEqual(new Map());
  });

  it('a malformed entry is refused (null), not indexed', () => {
    expect(decodeEmbeddings([{ candidate: 1, data: Buffer.from([1, 2, 3]).toString('base64') }])).toBeNull();
    expect(decodeEmbeddings([{ candidate: 1, data: '' }])).toBeNull();
    expect(decodeEmbeddings([{ candidate: 1.5, data: 'AAAAAA==' }])).toBeNull();
    expect(decodeEmbeddings({} as never)).toBeNull();
  });
});

describe('a serve --queue result on the wire', () => {
  it('carries the kept candidates\' embeddings bit for bit (the server indexes them), not the others\'', () => {
    const result = fakeResult([2, 0, 1], 2);
    result.candidates.forEach((c, i) => (c.embedding = new Float32Array([i, 0.1 * i, -1 / 3])));
    const back = decodeResult(JSON.parse(JSON.stringify(encodeResult(result))));
    expect(back.kept.map((c) => c.embedding)).toEqual(result.kept.map((c) => c.embedding));
    expect(back.candidates.map((c) => c.embedding === undefined)).toEqual([false, false, true]);
    expect(back.candidates.map((c) => [c.index, c.rank, c.score, Array.from(c.tokens)])).toEqual(result.candidates.map((c) => [c.index, c.rank, c.score, Array.from(c.tokens)]));
  });
});

describe('queue flags', () => {
  it('reads the settings it is given and leaves the rest to the defaults', () => {
    expect(queueSettingsFromFlags({ 'lock-ms': '60000', attempts: '5', 'backoff-ms': '0' }, ['lock-ms', 'attempts', 'backoff-ms'])).toEqual({ lockDurationMs: 60000, attempts: 5, backoffMs: 0 });
    expect(queueSettingsFromFlags({ 'lock-ms': '60000' }, ['attempts'])).toEqual({});
    expect(QUEUE_DEFAULTS.maxStalledCount).toBeGreaterThan(1);
  });

  it.each([
    ['lock-ms', '999'],
    ['stalled-ms', '1.5'],
    ['max-stalled', '-1'],
    ['attempts', '0'],
    ['backoff-ms', 'soon'],
  ] as const)('--%s %s is TESSERA_ERR_OPTION', (flag, value) => {
    expect(codeOf(() => queueSettingsFromFlags({ [flag]: value }, [flag]))).toBe('TESSERA_ERR_OPTION');
  });
});

describe('the CLI refuses bad queue usage before anything runs', () => {
  const dir = tempDir('queue-cli');
  const prompts = writeText(dir, 'p.txt', 'a red circle\n');

  it.each([
    [['worker'], 2, 'TESSERA_ERR_OPTION', '--queue redis://HOST:PORT[/DB] is required'],
    [['worker', '--queue', 'http://h:1'], 2, 'TESSERA_ERR_QUEUE_URL', 'has scheme "http"'],
    [['worker', '--queue', 'redis://h:1', 'extra'], 2, 'TESSERA_ERR_OPTION', 'takes no arguments'],
    [['worker', '--queue', 'redis://h:1', '--lock-ms', '5'], 2, 'TESSERA_ERR_OPTION', '--lock-ms must be an integer from 1000'],
    [['worker', '--queue', 'redis://h:1', '--concurrency', '0', '--model', TINY_MODEL], 2, 'TESSERA_ERR_OPTION', '--concurrency must be an integer from 1 to 64'],
    [['batch', prompts, '--out', `${dir}/o`, '--attempts', '3'], 2, 'TESSERA_ERR_OPTION', '--attempts needs --queue'],
    [['batch', prompts, '--out', `${dir}/o`, '--queue', 'redis://h:1', '--attempts', 'x'], 2, 'TESSERA_ERR_OPTION', '--attempts must be an integer'],
    [['batch', prompts, '--out', `${dir}/o`, '--queue', 'redis:/nope'], 2, 'TESSERA_ERR_QUEUE_URL', 'expected redis://HOST:PORT[/DB]'],
    [['serve', '--backoff-ms', '10'], 2, 'TESSERA_ERR_OPTION', '--backoff-ms needs --queue'],
    [['serve', '--queue', 'redis://h:1', '--attempts', '0'], 2, 'TESSERA_ERR_OPTION', '--attempts must be an integer from 1 to 100'],
  ])('tessera %j exits %i with %s', async (argv, code, errorCode, text) => {
    const result = await cli(...argv);
    expect(result.code).toBe(code);
    expect(result.stderr).toContain(`[${errorCode}]`);
    expect(result.stderr).toContain(text);
  });

  it('tessera worker --help documents the queue settings', async () => {
    const { code, stdout } = await cli('worker', '--help');
    expect(code).toBe(0);
    for (const flag of ['--queue', '--concurrency', '--lock-ms', '--stalled-ms', '--max-stalled']) expect(stdout).toContain(flag);
  });
});
