import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { vi } from 'vitest';
import { main } from '../../src/cli/main.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const TINY_MODEL = path.join(ROOT, 'test/fixtures/tiny-model');

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), `tessera-${prefix}-`));
}

export function writeText(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Every file under `dir` (relative path -> bytes), recursively. */
export function listFiles(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (relative: string) => {
    for (const name of readdirSync(path.join(dir, relative))) {
      const rel = relative === '' ? name : path.join(relative, name);
      if (statSync(path.join(dir, rel)).isDirectory()) walk(rel);
      else files.set(rel, readFileSync(path.join(dir, rel)));
    }
  };
  if (existsSync(dir)) walk('');
  return files;
}

/**
 * What "the same complete set, byte for byte" covers (docs/batch.md): every file of the
 * folder byte for byte, except that records/NNNN.timings.json only has to exist and
 * manifest.jsonl is compared with each line's "timings" removed (wall-clock times differ
 * between any two runs); search.sqlite, the derived search index, is left out.
 */
export function comparableSnapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, bytes] of listFiles(dir)) {
    if (/\.timings\.json$/.test(name)) out.set(name, 'timings');
    // The search index is derived (embeddings of the kept images, refilled by `tessera search`), not a result.
    else if (/^search\.sqlite(-wal|-shm)?$/.test(name)) continue;
    else if (name === 'manifest.jsonl') {
      const lines = bytes
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const { timings: _timings, ...rest } = JSON.parse(l) as Record<string, unknown>;
          return JSON.stringify(rest);
        });
      out.set(name, lines.join('\n'));
    } else out.set(name, bytes.toString('base64'));
  }
  return out;
}

/** Compares two snapshots and returns the names that differ (missing, extra or changed). */
export function snapshotDiff(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const names = new Set([...expected.keys(), ...actual.keys()]);
  return [...names].filter((n) => expected.get(n) !== actual.get(n)).sort();
}

/** Runs the CLI in process; returns its exit code and what it printed. */
export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(argv), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}
