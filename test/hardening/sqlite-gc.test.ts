/**
 * Issue 15 (Node 24 in CI): under Node 24 a process using the history store died by SIGABRT
 * ("Assertion failed: (env) != nullptr" in node::RemoveEnvironmentCleanupHook, from
 * better-sqlite3 12's Statement destructor) whenever a background garbage collection
 * finalized a dropped statement — at exit (`tessera serve` on a broken package, a vitest
 * worker) or at any moment while running. src/util/sqlite.ts picks the Node-API build of
 * better-sqlite3 where it loads. This runs the store in a child process under the Node
 * running the tests: before that change it aborted every time under Node 24.21
 * (10 of 10 runs); under Node 20 it passes with either build.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE_API_BUILD_MIN, SQLITE_BUILD } from '../../src/util/sqlite.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('SQLite objects collected by background garbage collection', () => {
  it('the Node-API build is used wherever Node-API 10 is available', () => {
    expect(SQLITE_BUILD).toBe(Number(process.versions.napi) >= NODE_API_BUILD_MIN ? 'node-api' : 'object-wrap');
  });

  it('no module but src/util/sqlite.ts loads better-sqlite3 itself', () => {
    const offenders = readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && file !== path.join('util', 'sqlite.ts'))
      .filter((file) => /(from|import\(|require\()\s*['"]better-sqlite3/.test(readFileSync(path.join(ROOT, 'src', file), 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('a process that prepares and drops many statements keeps running and exits 0', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'sqlite-gc-child.ts'), '4', '60'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 90_000,
    });
    const said = `${child.stdout}\n${child.stderr.slice(0, 2000)}`;
    expect(child.signal, said).toBeNull();
    expect(child.status, said).toBe(0);
    expect(child.stdout).toMatch(/sqlite-gc: 12000 store calls on 4 stores \((node-api|object-wrap) build\), clean/);
  });
});
