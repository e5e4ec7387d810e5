/**
 * Remembered verifications (src/model/verified-files.ts): a package file whose sha256 matched
 * is not hashed again while its stat stamp is unchanged; any rewrite of it is hashed (and a
 * corrupt one still fails by name); TESSERA_VERIFY_FILES=always hashes everything.
 */
import { appendFileSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../src/model/manifest.js';
import { verifyPackageFiles } from '../../src/model/verified-files.js';
import { rememberVerifications, statStamp, VERIFIED_FILES_CACHE, VerifiedFiles } from '../../src/model/verified-files.js';
import { copyTinyModel, tempDir } from '../helpers/tiny.js';

/** Verifies `dir` with notes in `cache`; the files actually read and hashed. */
async function hashedFiles(dir: string, cache: string): Promise<number> {
  const notes = new VerifiedFiles(cache);
  await verifyPackageFiles(dir, readManifest(dir), notes);
  expect(notes.hashed + notes.skipped).toBe(Object.keys(readManifest(dir).files).length);
  return notes.hashed;
}

describe('remembered file verifications', () => {
  it('hashes every file once, then none while they are unchanged', async () => {
    const dir = copyTinyModel();
    const cache = tempDir();
    const files = Object.keys(readManifest(dir).files).length;
    expect(await hashedFiles(dir, cache)).toBe(files);
    expect(await hashedFiles(dir, cache)).toBe(0);
    const notes = JSON.parse(readFileSync(path.join(cache, VERIFIED_FILES_CACHE), 'utf8')) as Record<string, { sha256: string; stamp: string }>;
    expect(Object.keys(notes)).toHaveLength(files);
    expect(notes[path.resolve(dir, 'vae/decoder.onnx')].stamp).toBe(statStamp(path.join(dir, 'vae/decoder.onnx')));
  });

  it('hashes a file again once it changed, and a corrupt one still fails by name', async () => {
    const dir = copyTinyModel();
    const cache = tempDir();
    await hashedFiles(dir, cache);
    const decoder = path.join(dir, 'vae/decoder.onnx');
    appendFileSync(decoder, 'x');
    await expect(verifyPackageFiles(dir, readManifest(dir), new VerifiedFiles(cache))).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringContaining('vae/decoder.onnx') });
  });

  it('sees a same-size rewrite with the old modification time put back (the change time moves)', async () => {
    const dir = copyTinyModel();
    const cache = tempDir();
    await hashedFiles(dir, cache);
    const tokenizer = path.join(dir, readManifest(dir).text.tokenizer);
    const before = readFileSync(tokenizer);
    const { atime, mtime } = statSync(tokenizer);
    const flipped = Buffer.from(before);
    flipped[flipped.length - 2] ^= 1;
    writeFileSync(tokenizer, flipped);
    utimesSync(tokenizer, atime, mtime);
    await expect(verifyPackageFiles(dir, readManifest(dir), new VerifiedFiles(cache))).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE' });
  });

  it('a garbled notes file only means hashing again', async () => {
    const dir = copyTinyModel();
    const cache = tempDir();
    writeFileSync(path.join(cache, VERIFIED_FILES_CACHE), '{not json');
    expect(await hashedFiles(dir, cache)).toBe(Object.keys(readManifest(dir).files).length);
    expect(await hashedFiles(dir, cache)).toBe(0);
  });

  it('a note for another sha256 (the manifest changed) does not count', async () => {
    const dir = copyTinyModel();
    const cache = tempDir();
    await hashedFiles(dir, cache);
    const notes = new VerifiedFiles(cache);
    expect(notes.known(path.join(dir, 'vae/decoder.onnx'), readManifest(dir).files['vae/decoder.onnx'])).toBe(true);
    expect(notes.known(path.join(dir, 'vae/decoder.onnx'), '0'.repeat(64))).toBe(false);
  });

  it('is off with TESSERA_VERIFY_FILES=always', () => {
    expect(rememberVerifications({})).toBe(true);
    expect(rememberVerifications({ TESSERA_VERIFY_FILES: 'always' })).toBe(false);
  });
});
