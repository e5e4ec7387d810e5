/**
 * The server's visual search: the CLIP image embedding of every kept image, stored at
 * generation time from the reranking that computed it (nothing is embedded twice), in
 * `<dataDir>/search.sqlite` (the file `tessera search DATA_DIR` reads too). Ids are
 * `<generation id>/<file>` (e.g. `…/image-1.png`), as src/search/folder.ts names them.
 * One embedding space per index: the first served model's CLIP; results of a model
 * ranked by another CLIP are not indexed.
 */
import path from 'node:path';
import { INDEX_FILE } from '../search/folder.js';
import { SearchIndex, type SearchHit, type SearchResultPage } from '../search/index.js';
import type { SearchRequest } from '../search/params.js';
import type { EmbeddingSpace } from '../search/space.js';
import type { GenerationResult } from '../types.js';
import type { GenerationRecord } from './store.js';

export class ImageSearch {
  readonly index: SearchIndex;
  readonly space: string;

  constructor(dataDir: string, space: EmbeddingSpace) {
    this.index = SearchIndex.open(path.join(dataDir, INDEX_FILE), { dim: space.dim, space: space.space });
    this.space = space.space;
  }

  /** Stores the embeddings of a generation's kept images (those its reranking computed), owned by tenant `owner`. */
  add(record: GenerationRecord, result: GenerationResult, space: string | null, owner: string | null = null): number {
    if (space !== this.space) return 0;
    const byIndex = new Map(result.candidates.map((c) => [c.index, c]));
    const items = record.images.flatMap((image) => {
      const embedding = byIndex.get(image.candidate_index)?.embedding;
      if (embedding === undefined) return []; // reranking off: no embedding, nothing to search by
      const id = `${record.id}/${image.file}`;
      return [{ record: { id, prompt: record.prompt, model: record.model, created: record.created, source: `results/${id}`, owner }, embedding }];
    });
    this.index.insertMany(items);
    return items.length;
  }

  /** Drops a deleted generation's images from the index. */
  remove(generationId: string): void {
    for (const id of this.index.ids()) if (id.startsWith(`${generationId}/`)) this.index.delete(id);
  }

  /**
   * One page of a search; `embedText` gives the CLIP text embedding of a query. With
   * `owner` (a tenant id) only that tenant's images are searched, "more like this" included.
   */
  async search(request: SearchRequest, embedText: (text: string) => Promise<Float32Array>, owner?: string): Promise<SearchResultPage> {
    // Another process (`tessera search` on this folder) may have changed the file.
    this.index.refresh();
    return request.kind === 'text' ? this.index.query(await embedText(request.text), request, owner) : this.index.moreLike(request.id, request, owner);
  }

  close(): void {
    this.index.close();
  }
}

/** The generation id and file of a hit (ids are `<generation id>/<file>`). */
export function hitLocation(hit: SearchHit): { generationId: string; file: string } {
  const slash = hit.id.indexOf('/');
  return { generationId: hit.id.slice(0, slash), file: hit.id.slice(slash + 1) };
}
