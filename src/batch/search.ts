/**
 * A batch folder's search index (OUT/search.sqlite, the file `tessera search OUT`
 * reads): the CLIP image embedding of every kept image, stored when its prompt is
 * committed, from the reranking that computed it (nothing is embedded twice): the local
 * executor's pipeline, or a `tessera worker`'s, whose job result carries the kept images'
 * embeddings back with their files (src/queue/jobs.ts). Ids are
 * the kept files' names without extension, as src/search/folder.ts lists them. The
 * index is derived data: a run killed between a record and its rows leaves rows
 * missing, which `tessera search` embeds from the files (src/search/folder.ts).
 */
import path from 'node:path';
import { INDEX_FILE } from '../search/folder.js';
import { SearchIndex } from '../search/index.js';
import type { EmbeddingSpace } from '../search/space.js';
import type { PromptRecord } from '../output/batch.js';
import type { GenerationResult } from '../types.js';

export class BatchSearchIndex {
  private index: SearchIndex | null = null;

  constructor(
    private readonly outDir: string,
    private readonly space: EmbeddingSpace,
  ) {}

  /** Replaces a prompt's rows (those of its previous record, if any) with its kept images now (`embeddings` by candidate index, keptEmbeddings). */
  add(record: PromptRecord, embeddings: ReadonlyMap<number, Float32Array>, previous: PromptRecord | null): void {
    this.index ??= SearchIndex.open(path.join(this.outDir, INDEX_FILE), { dim: this.space.dim, space: this.space.space });
    const idOf = (file: string): string => file.replace(/\.[a-z]+$/, '');
    for (const c of [...(previous?.candidates ?? []), ...record.candidates]) if (c.file !== null) this.index.delete(idOf(c.file));
    const created = Math.floor(Date.now() / 1000);
    const items = record.candidates.flatMap((c) => {
      const embedding = embeddings.get(c.index);
      if (!c.kept || c.file === null || embedding === undefined) return [];
      return [{ record: { id: idOf(c.file), prompt: record.spec.prompt, model: record.spec.model, created, source: c.file }, embedding }];
    });
    this.index.insertMany(items);
  }

  close(): void {
    this.index?.close();
    this.index = null;
  }
}

/** The CLIP image embeddings of a result's kept candidates, by candidate index (none when reranking was off). */
export function keptEmbeddings(result: GenerationResult): Map<number, Float32Array> {
  return new Map(result.kept.flatMap((c) => (c.embedding === undefined ? [] : [[c.index, c.embedding] as const])));
}
