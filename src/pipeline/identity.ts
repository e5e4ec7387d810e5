/**
 * Which engine a piece of work needs: the model package (its name and the SHA-256 of its
 * manifest, which pins every file's hash) and the CLIP given with --clip. A batch folder
 * records them in run.json; the queue names its queues and checks its workers by them.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { readManifest } from '../model/manifest.js';
import { checkClipDir, clipDigest } from '../rerank/clip-reranker.js';
import { DEFAULT_MODEL_DIR } from './loader.js';

/** A model package: where it is, its name and the SHA-256 of its manifest. */
export interface ModelIdentity {
  dir: string;
  name: string;
  manifestSha256: string;
}

/** A --clip folder as run.json records it: where it was and the digest of its files. */
export interface ClipIdentity {
  dir: string;
  sha256: string;
}

/** The model's name and the SHA-256 of its manifest (which pins every file's hash). */
export function modelIdentity(modelDir: string | undefined): ModelIdentity {
  const dir = path.resolve(modelDir ?? DEFAULT_MODEL_DIR);
  const manifest = readManifest(dir);
  return { dir, name: manifest.name, manifestSha256: createHash('sha256').update(readFileSync(path.join(dir, 'manifest.json'))).digest('hex') };
}

/** The --clip folder's identity (checked first: a bad path is TESSERA_ERR_OPTION); null without --clip. */
export async function clipIdentity(clip: string | undefined): Promise<ClipIdentity | null> {
  if (clip === undefined) return null;
  const dir = path.resolve(clip);
  checkClipDir(dir, 'TESSERA_ERR_OPTION', 'clip');
  return { dir, sha256: await clipDigest(dir) };
}
