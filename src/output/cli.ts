/**
 * The CLI's layout (`tessera generate`): kept images as `<prompt-slug>-<seed>-<candidate>.png`
 * and, with --grid, the contact sheet `<prompt-slug>-<seed>-grid.png`, side by side in one folder.
 */
import path from 'node:path';
import type { GenerationResult } from '../types.js';
import { slugOf } from '../util/fs.js';
import { folderSink, renderResult, writeFiles, type ResultLayout } from './writer.js';

export interface WrittenImage {
  rank: number;
  score: number | null;
  seed: number;
  candidateIndex: number;
  file: string;
  /** The image's codes, row-major over the grid (for debugging and checks against other implementations). */
  tokens: number[];
}

export function cliLayout(result: GenerationResult, withGrid: boolean): ResultLayout {
  const stem = `${slugOf(result.prompt)}-${result.seed}`;
  return {
    keptName: (candidate) => `${stem}-${candidate.index}.png`,
    gridName: withGrid ? `${stem}-grid.png` : null,
    candidateName: null,
    footprintMetadata: true,
  };
}

/** Writes the kept images (and optionally the grid) of a result into `outDir`; every file atomically. */
export async function writeCliResult(result: GenerationResult, outDir: string, withGrid: boolean): Promise<{ images: WrittenImage[]; grid: string | null }> {
  const files = await renderResult(result, cliLayout(result, withGrid));
  await writeFiles(folderSink(outDir), files);
  const images: WrittenImage[] = [];
  let grid: string | null = null;
  for (const { name, kind, candidate } of files) {
    const file = path.join(outDir, name);
    if (kind === 'grid') grid = file;
    else if (candidate !== null) images.push({ rank: candidate.rank, score: candidate.score, seed: result.seed, candidateIndex: candidate.index, file, tokens: Array.from(candidate.tokens) });
  }
  return { images, grid };
}
