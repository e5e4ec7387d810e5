/**
 * bin/tessera, the launcher npm links as `tessera`: it sets glibc's huge-page tunable for
 * malloc (unless told not to, or the user's GLIBC_TUNABLES names it) and execs node on
 * dist/cli/main.js with the arguments unchanged. A stand-in `node` first on PATH prints
 * what it was given, so the test needs neither dist/ nor a particular glibc.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launcherEnv } from '../../bench/perf/machine.js';

const launcher = resolve('bin/tessera');
const fakeBin = mkdtempSync(join(tmpdir(), 'tessera-launcher-'));
writeFileSync(join(fakeBin, 'node'), '#!/bin/sh\nprintf "%s\\n" "tunables=${GLIBC_TUNABLES-unset}" "$@"\n');
chmodSync(join(fakeBin, 'node'), 0o755);
afterAll(() => rmSync(fakeBin, { recursive: true, force: true }));

function launch(env: Record<string, string>, args: string[] = ['generate', 'a red circle', '--candidates', '4']): string[] {
  const base: Record<string, string> = { PATH: `${fakeBin}:${process.env.PATH ?? ''}` };
  const run = spawnSync(launcher, args, { env: { ...base, ...env }, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trimEnd().split('\n');
}

describe('bin/tessera', () => {
  it('sets glibc.malloc.hugetlb=1 and passes the arguments through unchanged, spaces included', () => {
    const [tunables, entry, ...args] = launch({});
    expect(tunables).toBe('tunables=glibc.malloc.hugetlb=1');
    expect(entry).toBe(resolve('dist/cli/main.js'));
    expect(args).toEqual(['generate', 'a red circle', '--candidates', '4']);
  });

  it("appends to the user's own tunables", () => {
    expect(launch({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })[0]).toBe('tunables=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
  });

  it('leaves a GLIBC_TUNABLES that names the tunable as it is (hugetlb=0 included)', () => {
    expect(launch({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' })[0]).toBe('tunables=glibc.malloc.hugetlb=0');
    expect(launch({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2' })[0]).toBe('tunables=glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2');
  });

  it('is off with TESSERA_HUGEPAGES=0', () => {
    expect(launch({ TESSERA_HUGEPAGES: '0' })[0]).toBe('tunables=unset');
    expect(launch({ TESSERA_HUGEPAGES: '0', GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' })[0]).toBe('tunables=glibc.malloc.arena_max=2');
  });

  it("agrees with the benches' copy of its rule (launcherEnv), which times what it starts", () => {
    const cases: Record<string, string>[] = [{}, { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }, { GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }, { TESSERA_HUGEPAGES: '0' }];
    for (const env of cases) {
      expect(launch(env)[0]).toBe(`tunables=${launcherEnv(env).GLIBC_TUNABLES ?? 'unset'}`);
    }
  });

  it('finds dist/ through a symlink, as npm links it into node_modules/.bin', () => {
    const link = join(fakeBin, 'tessera');
    spawnSync('ln', ['-sf', launcher, link]);
    const run = spawnSync(link, ['info'], { env: { PATH: `${fakeBin}:${process.env.PATH ?? ''}` }, encoding: 'utf8' });
    expect(run.stdout.split('\n')[1]).toBe(resolve('dist/cli/main.js'));
  });
});
