/**
 * Crash safety: a run killed at any point, then re-run, ends with the same complete
 * set as a run never killed (what "the same" covers: helpers.ts comparableSnapshot),
 * with no temporary left and at most the prompts in flight generated again.
 *
 * - In process, every crash point of a small run (after each write, rename and record)
 *   through the runner's crash hook, which throws: nothing after the point runs.
 * - Real SIGKILLs of a child `tessera batch`: at deterministic points through
 *   TESSERA_BATCH_CRASH_AT, and at random moments chosen by the test.
 */
import { spawn } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBatch, type BatchTestSeams } from '../../src/batch/runner.js';
import type { CrashHook } from '../../src/batch/store.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { comparableSnapshot, listFiles, ROOT, snapshotDiff, tempDir, TINY_MODEL, writeText } from './helpers.js';

class SimulatedCrash extends Error {}

let tessera: Tessera;
const dir = tempDir('batch-crash');
const prompts = writeText(dir, 'prompts.txt', 'a red circle\ntwo blue squares\na green triangle\n');
const SETTINGS = { candidates: 2, keep: 1, seed: 9, batchPrompts: 2 } as const;

beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_MODEL });
});
afterAll(async () => {
  await tessera.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function run(out: string, seams: BatchTestSeams = {}) {
  return runBatch({ tessera, prompts, out, ...SETTINGS }, seams);
}

function recordCount(out: string): number {
  return [...listFiles(out).keys()].filter((name) => /^records\/\d{4}\.json$/.test(name)).length;
}

function temporaries(out: string): string[] {
  return [...listFiles(out).keys()].filter((name) => name.endsWith('.tmp'));
}

describe('crash safety (in process, every crash point)', () => {
  it('re-running after a crash at any write, rename or record gives the uninterrupted result', async () => {
    const referenceDir = path.join(dir, 'reference');
    let points = 0;
    let records = 0;
    await run(referenceDir, {
      crash: (_kind, count) => {
        points = count.any;
        records = count.record;
      },
    });
    expect(records).toBe(3);
    // run.json (2) + 3 prompts x (kept, grid, timings, record: 2 each, +1 record point) + manifest (2)
    expect(points).toBe(2 + 3 * 9 + 2);
    const reference = comparableSnapshot(referenceDir);

    for (let k = 1; k <= points; k++) {
      const out = path.join(dir, `crash-${k}`);
      const crash: CrashHook = (_kind, count) => {
        if (count.any === k) throw new SimulatedCrash(`crash at point ${k}`);
      };
      await expect(run(out, { crash })).rejects.toBeInstanceOf(SimulatedCrash);
      const recordsBefore = recordCount(out);
      const resumed = await run(out);
      expect({ k, diff: snapshotDiff(reference, comparableSnapshot(out)) }).toEqual({ k, diff: [] });
      expect(temporaries(out)).toEqual([]);
      // Only prompts without a record are generated again, and a record written is never lost.
      expect(resumed.skipped).toBe(recordsBefore);
      expect(resumed.generated).toBe(3 - recordsBefore);
      rmSync(out, { recursive: true, force: true });
    }
  });
});

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs `tessera batch` in a child process; `killAfterMs` (from its first progress line) sends SIGKILL. */
function runChild(out: string, env: Record<string, string>, killAfterMs?: number): Promise<ChildResult> {
  const args = ['--import', 'tsx', path.join(ROOT, 'src/cli/main.ts'), 'batch', prompts6, '--out', out, '--model', TINY_MODEL];
  args.push('--candidates', '2', '--keep', '1', '--seed', '9', '--batch-prompts', '2');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (killAfterMs !== undefined && timer === undefined && stderr.includes('tessera batch: prompts')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stdout.resume();
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

const prompts6 = writeText(dir, 'six.txt', 'a red circle\ntwo blue squares\na green triangle\na yellow star\na blue circle\na red square\n');

describe('crash safety (SIGKILL of a child process)', () => {
  let reference: Map<string, string>;
  const resume = (out: string) => runBatch({ tessera, prompts: prompts6, out, candidates: 2, keep: 1, seed: 9, batchPrompts: 2 });
  /** A re-run: runBatch takes the folder's lock, which the killed run left behind (src/batch/lock.ts), and says so. */
  const resumeLocked = async (out: string) => {
    let tookOver = 0;
    const summary = await runBatch({
      tessera,
      prompts: prompts6,
      out,
      candidates: 2,
      keep: 1,
      seed: 9,
      batchPrompts: 2,
      onNotice: (message) => {
        if (message.startsWith('took over the lock of batch run')) tookOver += 1;
      },
    });
    return { tookOver, summary };
  };

  beforeAll(async () => {
    const referenceDir = path.join(dir, 'reference6');
    await resume(referenceDir);
    reference = comparableSnapshot(referenceDir);
  });

  for (const point of ['write:3', 'rename:8', 'record:2', 'any:40']) {
    it(`TESSERA_BATCH_CRASH_AT=${point}: killed there, the re-run completes the same set`, async () => {
      const out = path.join(dir, `kill-${point.replace(':', '-')}`);
      const child = await runChild(out, { TESSERA_BATCH_CRASH_AT: point });
      expect(child.signal, child.stderr).toBe('SIGKILL');
      const recordsBefore = recordCount(out);
      if (point === 'record:2') expect(recordsBefore).toBe(2);
      const { tookOver, summary: resumed } = await resumeLocked(out);
      expect(tookOver).toBe(1);
      expect(resumed.skipped).toBe(recordsBefore);
      expect(snapshotDiff(reference, comparableSnapshot(out))).toEqual([]);
      expect(temporaries(out)).toEqual([]);
    });
  }

  it('killed at random moments (twice in a row), the re-run completes the same set', async () => {
    const out = path.join(dir, 'kill-random');
    const delays: number[] = [];
    for (let i = 0; i < 2; i++) {
      const delay = Math.floor(Math.random() * 2500);
      delays.push(delay);
      await runChild(out, {}, delay);
    }
    const recordsBefore = recordCount(out);
    const { summary: resumed } = await resumeLocked(out);
    expect(resumed.skipped).toBe(recordsBefore);
    expect({ delays, diff: snapshotDiff(reference, comparableSnapshot(out)) }).toEqual({ delays, diff: [] });
    expect(temporaries(out)).toEqual([]);
    expect(resumed.skipped + resumed.generated).toBe(6);
    expect(readdirSync(path.join(out, 'records')).filter((n) => /^\d{4}\.json$/.test(n))).toHaveLength(6);
  });
});
