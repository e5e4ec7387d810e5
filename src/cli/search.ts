import path from 'node:path';
import { parseCommandLine } from './args.js';
import { TesseraError } from '../errors.js';
import { resolveModelRef } from '../hub/resolve.js';
import { DEFAULT_MODEL_DIR } from '../pipeline/loader.js';
import { readManifest } from '../model/manifest.js';
import { ClipReranker } from '../rerank/clip-reranker.js';
import { INDEX_FILE, updateFolderIndex } from '../search/folder.js';
import { SearchIndex, type SearchResultPage } from '../search/index.js';
import { parseSearchRequest } from '../search/params.js';
import { embeddingSpace } from '../search/space.js';

const SEARCH_USAGE = `Usage: tessera search FOLDER (--query TEXT | --like ID) [options]

Ranks the images of a batch output folder or a server data folder by meaning: by the
CLIP similarity with TEXT, or with the image ID ("more like this", the image itself
left out). The folder's index (FOLDER/${INDEX_FILE}) is brought up to date first.

Options:
  --query TEXT     text to search for
  --like ID        id of an indexed image (as listed by a search)
  --limit N        results per page, 1-100 (default 20)
  --offset N       results to skip (default 0)
  --model DIR      model package whose CLIP embeds (default: the embedded model)
  --clip DIR       the CLIP the folder was ranked with, when it was not the package's
                   own (tessera batch --clip)
  --no-update      search the index as it is, without embedding new images
  --json           print the page as JSON
  -h, --help       show this help`;

const FLAGS = {
  query: { type: 'string' },
  like: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  model: { type: 'string' },
  clip: { type: 'string' },
  'no-update': { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface SearchOutput {
  write(text: string): void;
}

/** `tessera search`: exit 0 with a page of results (possibly empty); errors are thrown as TesseraErrors. */
export async function runSearchCommand(argv: string[], out: SearchOutput = process.stdout): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, FLAGS);
  if (values.help) {
    out.write(SEARCH_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    throw new TesseraError('TESSERA_ERR_OPTION', `give exactly one folder to search, got ${positionals.length}`, { param: 'folder' });
  }
  const folder = path.resolve(positionals[0]!);
  const params: Record<string, unknown> = {};
  for (const key of ['query', 'like', 'limit', 'offset'] as const) if (values[key] !== undefined) params[key] = values[key];
  const request = parseSearchRequest(params);
  const modelDir = path.resolve(resolveModelRef(values.model, 'package') ?? DEFAULT_MODEL_DIR);
  const manifest = readManifest(modelDir);
  if (manifest.clip === null) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `${modelDir} has no CLIP model: search needs one`, { param: 'model' });
  const space = embeddingSpace(modelDir, manifest, values.clip === undefined ? null : path.resolve(resolveModelRef(values.clip, 'clip')!));
  if (space === null) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `${modelDir}: its CLIP folder has no config.json`, { param: 'model' });
  const { clipDir, dim } = space;
  // The folder's index, as the batch runner or server filled it at generation time (or this command, for older folders).
  const index = SearchIndex.open(path.join(folder, INDEX_FILE), { dim, space: space.space });
  let clip: ClipReranker | null = null;
  try {
    if (!values['no-update'] || request.kind === 'text') clip = await ClipReranker.load(clipDir, 'cpu');
    if (!values['no-update']) await updateFolderIndex(folder, index, clip!);
    let page: SearchResultPage;
    if (request.kind === 'text') {
      const [text] = await clip!.embedText([request.text]);
      page = index.query(text!, request);
    } else {
      page = index.moreLike(request.id, request);
    }
    out.write(values.json ? JSON.stringify({ object: 'list', ...page }, null, 2) + '\n' : renderPage(page));
    return 0;
  } finally {
    index.close();
    await clip?.dispose();
  }
}

function renderPage(page: SearchResultPage): string {
  if (page.data.length === 0) return `no images (${page.total} indexed)\n`;
  const lines = page.data.map((hit, i) => `${String(page.offset + i + 1).padStart(4)}  ${hit.score.toFixed(4)}  ${hit.id}  ${JSON.stringify(hit.prompt)}  ${hit.source}`);
  const last = page.offset + page.data.length;
  lines.push(`${page.offset + 1}-${last} of ${page.total}${last < page.total ? ` (next: --offset ${last})` : ''}`);
  return lines.join('\n') + '\n';
}
