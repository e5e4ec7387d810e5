/** The local executor: this process's pipeline samples the planned batches one after another. */
import { isTesseraError } from '../errors.js';
import { renderPrompt, type PromptTimings } from '../output/batch.js';
import type { Tessera } from '../pipeline/tessera.js';
import type { GenerationResult } from '../types.js';
import { keptEmbeddings, promptCost, type BatchExecutor, type BatchSink, type PlannedBatch } from './executor.js';
import type { Task } from './plan.js';
import type { RenderedPrompt } from './records.js';

/** Encodes one prompt's files and builds its record (timed as the prompt's encodeMs); writes nothing. */
async function renderTask(task: Task, result: GenerationResult): Promise<RenderedPrompt> {
  const started = performance.now();
  const { files, record } = await renderPrompt(result, task);
  return { task, files, record, encodeMs: performance.now() - started, ...promptCost(result), embeddings: keptEmbeddings(result) };
}

function batchTimingsOf(batch: PlannedBatch, timings: GenerationResult['timings']): PromptTimings['batch'] {
  return { ...timings, prompts: batch.tasks.length, candidates: batch.tasks.reduce((sum, t) => sum + t.spec.candidates, 0) };
}

/** This process's pipeline, one planned batch after another (in row groups of at most `maxRows` rows, when given). */
export class LocalExecutor implements BatchExecutor {
  constructor(
    private readonly tessera: Tessera,
    private readonly options: { maxRows?: number } = {},
  ) {}

  async execute(batches: readonly PlannedBatch[], sink: BatchSink): Promise<void> {
    for (const batch of batches) {
      let results: GenerationResult[];
      try {
        results = await this.tessera.generateMany(batch.tasks.map((t) => t.prepared), { maxRows: this.options.maxRows });
      } catch (error) {
        if (!isTesseraError(error) || error.code === 'TESSERA_ERR_CANCELLED') throw error;
        await sink.failed(batch, error);
        continue;
      }
      // Encode the batch's prompts together (sharp works on its own threads).
      const todo = new Set(batch.todo);
      const todoResults = results.filter((_, i) => todo.has(batch.tasks[i]));
      const rendered = await Promise.all(batch.todo.map((task, i) => renderTask(task, todoResults[i])));
      await sink.done({ batch, rendered, timings: batchTimingsOf(batch, results[0].timings), results: todoResults });
    }
  }

  status(): null {
    return null;
  }

  async close(): Promise<void> {}
}
