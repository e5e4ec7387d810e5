/**
 * A batch folder's records: whether a prompt is done (its record is in place and every
 * file it names has the recorded SHA-256), committing a prompt's files in crash-safe
 * order, and manifest.jsonl rebuilt from the records.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import {
  jsonFile,
  MANIFEST_FILE,
  manifestLine,
  RECORDS_DIR,
  recordName,
  sha256,
  timingsName,
  type PromptRecord,
  type PromptTimings,
} from '../output/batch.js';
import { writeFiles, type ResultFile } from '../output/writer.js';
import type { Task } from './plan.js';
import type { ImagesUsage, PrecisionReport } from '../types.js';
import { RUN_FILE, type RunSettings } from './run-settings.js';
import { removeTemporaries, type Store } from './store.js';

export type TaskState = 'done' | 'missing' | 'outdated';

export interface TaskStatus {
  state: TaskState;
  record: PromptRecord | null;
}

/** Loads and checks a prompt's record; the state says whether the prompt must be generated. */
export function inspectRecord(outDir: string, task: Task): TaskStatus {
  const file = path.join(outDir, recordName(task.index));
  if (!existsSync(file)) return { state: 'missing', record: null };
  let record: PromptRecord;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as PromptRecord;
  } catch {
    return { state: 'missing', record: null }; // cannot happen with atomic writes; regenerate
  }
  if (JSON.stringify(record.spec) !== JSON.stringify(task.spec)) return { state: 'outdated', record };
  for (const [name, hash] of Object.entries(record.files ?? {})) {
    const target = path.join(outDir, name);
    if (!existsSync(target) || sha256(readFileSync(target)) !== hash) return { state: 'missing', record };
  }
  if (!existsSync(path.join(outDir, timingsName(task.index)))) return { state: 'missing', record };
  return { state: 'done', record };
}

/** Refuses prompts whose record was made from other settings or text, unless --force. */
export function refuseOutdated(outDir: string, tasks: readonly Task[], states: ReadonlyMap<number, TaskStatus>, force: boolean): void {
  const outdated = tasks.filter((t) => states.get(t.index)?.state === 'outdated');
  if (outdated.length === 0 || force) return;
  const lines = outdated.slice(0, 5).map((t) => `line ${t.line} (${String(t.index).padStart(4, '0')}): ${JSON.stringify(t.spec.prompt)}`);
  throw new TesseraError(
    'TESSERA_ERR_RUN_CONFLICT',
    `${outDir} holds results for ${outdated.length} prompt${outdated.length === 1 ? '' : 's'} made with other settings or text:\n  ${lines.join('\n  ')}${outdated.length > 5 ? '\n  …' : ''}\nUse --force to generate them again`,
    { param: 'out' },
  );
}

/** The folder is ours: the records folder, leftovers of a killed run away, run.json (when it changed). */
export async function claimFolder(store: Store, settings: RunSettings): Promise<void> {
  await mkdir(path.join(store.dir, RECORDS_DIR), { recursive: true });
  removeTemporaries([store.dir, path.join(store.dir, RECORDS_DIR)]);
  const runJson = jsonFile(settings);
  const runPath = path.join(store.dir, RUN_FILE);
  if (!existsSync(runPath) || readFileSync(runPath, 'utf8') !== runJson) await store.write(RUN_FILE, runJson);
}

export interface RenderedPrompt {
  task: Task;
  files: ResultFile[];
  record: PromptRecord;
  encodeMs: number;
  /** What the prompt cost, for its timings file (see PromptTimings). */
  usage: ImagesUsage | null;
  footprint: Record<string, unknown> | null;
  /** The kept images' CLIP embeddings by candidate index, for the folder's search index (src/batch/search.ts). */
  embeddings: ReadonlyMap<number, Float32Array>;
  /** The precision its batch ran at (timings file, not the record: auto may decide differently on another machine). */
  precision: PrecisionReport | null;
}

/**
 * Writes one prompt's files in a fixed order (images, timings, the record last) and
 * removes files of an outdated record that the new one does not name. Returns the
 * number of files written.
 */
export async function commitPrompt(store: Store, rendered: RenderedPrompt, batchTimings: PromptTimings['batch'], previous: PromptRecord | null): Promise<number> {
  const started = performance.now();
  const { task, files, record } = rendered;
  await writeFiles(store, files);
  const timings: PromptTimings = { batch: batchTimings, encodeMs: rendered.encodeMs, writeMs: performance.now() - started, usage: rendered.usage, footprint: rendered.footprint, precision: rendered.precision };
  await store.write(timingsName(task.index), jsonFile(timings));
  await store.write(recordName(task.index), jsonFile(record), { record: true });
  if (previous !== null) {
    for (const name of Object.keys(previous.files ?? {})) {
      if (!(name in record.files)) rmSync(path.join(store.dir, name), { force: true });
    }
  }
  return files.length + 2;
}

/** Rebuilds manifest.jsonl from the records of the file's prompts, in file order. */
export async function writeManifest(store: Store, tasks: readonly Task[]): Promise<void> {
  const lines: string[] = [];
  for (const task of tasks) {
    const { state, record } = inspectRecord(store.dir, task);
    if (state !== 'done' || record === null) continue;
    const timings = JSON.parse(readFileSync(path.join(store.dir, timingsName(task.index)), 'utf8')) as PromptTimings;
    lines.push(JSON.stringify(manifestLine(record, task.line, timings)));
  }
  await store.write(MANIFEST_FILE, lines.map((l) => l + '\n').join(''));
}
