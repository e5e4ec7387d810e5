/**
 * Issue 15, defect 10: two `tessera batch` runs on one folder. A live run's lock refuses a
 * second run (TESSERA_ERR_FOLDER_LOCKED); a lock left by a dead process is taken over.
 * Issue 23: so is the lock of a zombie (killed, not yet reaped by its parent).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isTesseraError } from '../../src/errors.js';
import { acquireFolderLock, LOCK_NAME, processStartOf } from '../../src/batch/lock.js';
import { cli, tempDir, TINY_MODEL, writeText } from '../batch/helpers.js';

const dir = tempDir('batch-lock');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const prompts = writeText(dir, 'prompts.txt', 'a red circle\ntwo blue squares\n');
const common = ['--model', TINY_MODEL, '--candidates', '2', '--keep', '1', '--seed', '3'];

/** A process that is certainly dead: one that ran and exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid as number;
}

/**
 * A real zombie: `sh` starts `sleep 0` in the background, prints its pid and execs into a
 * `sleep` that never waits for children, so the exited `sleep 0` stays a zombie until its
 * parent ends. Resolves once /proc says state Z (polled: no timing assumption).
 */
async function zombie(): Promise<{ pid: number; parent: ChildProcess }> {
  const parent = spawn('/bin/sh', ['-c', 'sleep 0 & echo $!; exec sleep 60'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const pid = await new Promise<number>((resolve, reject) => {
    parent.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())));
    parent.once('exit', () => reject(new Error('the zombie\'s parent exited early')));
  });
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return { pid, parent };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return isTesseraError(error) ? error.code : String(error);
  }
}

describe('folder lock', () => {
  it('a second lock on a held folder is refused; release frees it', () => {
    const folder = path.join(dir, 'unit');
    const first = acquireFolderLock(folder);
    expect(existsSync(path.join(folder, LOCK_NAME))).toBe(true);
    expect(codeOf(() => acquireFolderLock(folder))).toBe('TESSERA_ERR_FOLDER_LOCKED');
    first.release();
    expect(existsSync(path.join(folder, LOCK_NAME))).toBe(false);
    const second = acquireFolderLock(folder);
    second.release();
    // The lock made the folder; releasing it removes the folder again while it is empty.
    const fresh = path.join(dir, 'fresh');
    acquireFolderLock(fresh).release();
    expect(existsSync(fresh)).toBe(false);
  });

  it('a lock whose process died, or whose pid now names another process, is taken over', async () => {
    const folder = path.join(dir, 'stale');
    const dead = await deadPid();
    const write = (holder: object) => writeFileSync(path.join(folder, LOCK_NAME), JSON.stringify(holder));
    mkdirSync(folder, { recursive: true });
    write({ pid: dead, host: os.hostname(), processStart: null, since: 'then', token: 'aaaa' });
    const lock = acquireFolderLock(folder);
    expect(lock.tookOver.map((h) => h.pid)).toEqual([dead]);
    lock.release();
    if (processStartOf(process.pid) !== null) {
      // Our own pid, but recorded with another start time: a reused pid, so the lock is stale.
      write({ pid: process.pid, host: os.hostname(), processStart: '1', since: 'then', token: 'bbbb' });
      const again = acquireFolderLock(folder);
      expect(again.tookOver).toHaveLength(1);
      again.release();
    }
    // Another host's lock is never taken over.
    write({ pid: dead, host: `not-${os.hostname()}`, processStart: null, since: 'then', token: 'cccc' });
    expect(codeOf(() => acquireFolderLock(folder))).toBe('TESSERA_ERR_FOLDER_LOCKED');
  });

  it.runIf(existsSync('/proc/self/stat'))('a lock held by a zombie (killed, not yet reaped) is taken over: a zombie is not a live run', async () => {
    const folder = path.join(dir, 'zombie');
    mkdirSync(folder, { recursive: true });
    const { pid, parent } = await zombie();
    try {
      // kill(pid, 0) succeeds on a zombie, and its start time is still the recorded one.
      expect(() => process.kill(pid, 0)).not.toThrow();
      const start = processStartOf(pid);
      expect(start).not.toBeNull();
      writeFileSync(path.join(folder, LOCK_NAME), JSON.stringify({ pid, host: os.hostname(), processStart: start, since: 'then', token: 'zzzz' }));
      const lock = acquireFolderLock(folder);
      expect(lock.tookOver.map((h) => h.pid)).toEqual([pid]);
      lock.release();
      // The zombie's parent, alive and running, still holds a lock written for it.
      writeFileSync(path.join(folder, LOCK_NAME), JSON.stringify({ pid: parent.pid, host: os.hostname(), processStart: processStartOf(parent.pid!), since: 'then', token: 'yyyy' }));
      expect(codeOf(() => acquireFolderLock(folder))).toBe('TESSERA_ERR_FOLDER_LOCKED');
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('tessera batch refuses a folder held by a live run, with the code, and runs after it ends', async () => {
    const out = path.join(dir, 'cli');
    const held = acquireFolderLock(out);
    try {
      const refused = await cli('batch', prompts, '--out', out, ...common);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('[TESSERA_ERR_FOLDER_LOCKED]');
      expect(refused.stderr).toContain(String(process.pid));
      expect(existsSync(path.join(out, 'run.json'))).toBe(false);
    } finally {
      held.release();
    }
    const ran = await cli('batch', prompts, '--out', out, ...common);
    expect(ran.code, ran.stderr).toBe(0);
    expect(existsSync(path.join(out, LOCK_NAME))).toBe(false);
  });

  it('tessera batch takes over the lock of a killed run and says so', async () => {
    const out = path.join(dir, 'killed');
    mkdirSync(out, { recursive: true });
    const dead = await deadPid();
    writeFileSync(path.join(out, LOCK_NAME), JSON.stringify({ pid: dead, host: os.hostname(), processStart: null, since: 'then', token: 'dddd' }));
    const ran = await cli('batch', prompts, '--out', out, ...common);
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stderr).toContain(`took over the lock of batch run ${dead}`);
    expect(readFileSync(path.join(out, 'manifest.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });
});
