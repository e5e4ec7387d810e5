import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/pipeline/loader.js';
import { parseManifest } from '../../src/model/manifest.js';
import { copyTinyModel, TINY_MODEL, tempDir } from '../helpers/tiny.js';

const MIN_DALLE_PACKAGE = path.join(import.meta.dirname, '../fixtures/min-dalle/package');
const manifest = () => JSON.parse(readFileSync(path.join(TINY_MODEL, 'manifest.json'), 'utf8'));

describe('manifest', () => {
  it('parses the fixture', () => {
    expect(parseManifest(manifest()).name).toBe('tiny-random');
  });
  it('rejects unknown keys, naming them', () => {
    const m = manifest();
    m.sampling.topk = 3;
    expect(() => parseManifest(m)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('"topk"') }));
  });
  it('rejects missing keys and bad values', () => {
    const missing = manifest();
    delete missing.text.padId;
    expect(() => parseManifest(missing)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST' }));
    const architecture = manifest();
    architecture.architecture = 'diffusion';
    expect(() => parseManifest(architecture)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('decoder-only') }));
  });
  it('parses an encoder-decoder package (min-dalle conversion) and ties encoderDecoder to that architecture', () => {
    const encoderDecoder = () => JSON.parse(readFileSync(path.join(MIN_DALLE_PACKAGE, 'manifest.json'), 'utf8'));
    const parsed = parseManifest(encoderDecoder());
    expect(parsed.architecture).toBe('encoder-decoder');
    expect(parsed.encoder).toBeNull();
    expect(parsed.encoderDecoder).toEqual({ textEncoder: 'text/encoder.onnx', width: 16, imageStartToken: 16383 });
    const without = encoderDecoder();
    delete without.encoderDecoder;
    expect(() => parseManifest(without)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('is required') }));
    const decoderOnly = manifest();
    decoderOnly.encoderDecoder = encoderDecoder().encoderDecoder;
    expect(() => parseManifest(decoderOnly)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('only allowed') }));
    const unhashed = encoderDecoder();
    delete unhashed.files['text/encoder.onnx'];
    expect(() => parseManifest(unhashed)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST', message: expect.stringContaining('text/encoder.onnx') }));
  });
  it('rejects paths that leave the package', () => {
    const m = manifest();
    m.decoder = '../outside.onnx';
    expect(() => parseManifest(m)).toThrow(expect.objectContaining({ code: 'TESSERA_ERR_MANIFEST' }));
  });
});

describe('loading a package', () => {
  it('names a corrupt file', async () => {
    const dir = copyTinyModel();
    appendFileSync(path.join(dir, 'vae/decoder.onnx'), 'x');
    await expect(loadModel({ model: dir })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringContaining('vae/decoder.onnx') });
  });
  it('names a missing file', async () => {
    const dir = copyTinyModel();
    rmSync(path.join(dir, 'generator/step.onnx'));
    await expect(loadModel({ model: dir })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE', message: expect.stringContaining('generator/step.onnx') });
  });
  it('fails on a missing folder, a missing manifest and invalid JSON', async () => {
    await expect(loadModel({ model: '/nonexistent/model' })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_NOT_FOUND' });
    await expect(loadModel({ model: tempDir() })).rejects.toMatchObject({ code: 'TESSERA_ERR_MODEL_FILE' });
    const dir = copyTinyModel();
    writeFileSync(path.join(dir, 'manifest.json'), '{ not json');
    await expect(loadModel({ model: dir })).rejects.toMatchObject({ code: 'TESSERA_ERR_MANIFEST' });
  });
  it('refuses an unknown or unavailable execution provider', async () => {
    await expect(loadModel({ model: TINY_MODEL, device: 'tpu' as never })).rejects.toMatchObject({ code: 'TESSERA_ERR_DEVICE', message: expect.stringContaining('Should be one of') });
    // This onnxruntime-node install has no CUDA libraries (.npmrc skips their download).
    await expect(loadModel({ model: TINY_MODEL, device: 'cuda' })).rejects.toMatchObject({ code: 'TESSERA_ERR_DEVICE' });
  });
});
