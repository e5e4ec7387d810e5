/**
 * A folder in onnx-community's layout becomes a package (src/model/janus-package.ts); the
 * manifest's Janus fields are checked; a long prompt keeps the format's tail.
 */
import { cpSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest, type ModelManifest } from '../../src/model/manifest.js';
import { janusFiles, janusGraphFile, writeJanusManifest } from '../../src/model/janus-package.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { TINY_JANUS, TINY_JANUS_REFERENCE } from '../helpers/janus.js';
import { tempDir } from '../helpers/tiny.js';

const shipped = JSON.parse(readFileSync(path.join(TINY_JANUS, 'manifest.json'), 'utf8')) as ModelManifest;
const errorCode = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    return (error as { code?: string }).code;
  }
  return undefined;
};

describe('Janus package from an onnx-community folder', () => {
  it('reads the figures and token ids from the folder and runs as the fixture does', async () => {
    const dir = path.join(tempDir(), 'janus');
    cpSync(TINY_JANUS, dir, { recursive: true });
    rmSync(path.join(dir, 'manifest.json'));
    const built = await writeJanusManifest(dir, { textLength: shipped.text.length });
    for (const key of ['architecture', 'text', 'image', 'generator', 'janus', 'decoder', 'encoder', 'sampling'] as const) expect(built[key], key).toEqual(shipped[key]);
    expect(Object.keys(built.files)).toEqual(janusFiles().sort());
    const reference = JSON.parse(readFileSync(TINY_JANUS_REFERENCE, 'utf8')) as { cases: { name: string; prompt: string; seed: number; indices: number[]; guidanceScale: number; codes: number[][] }[] };
    const c = reference.cases.find((x) => x.name === 'guided')!;
    const tessera = await Tessera.load({ model: dir, rerank: false });
    const { sequences } = tessera.prepare({ prompt: c.prompt, seed: c.seed, candidateIndices: c.indices, guidanceScale: c.guidanceScale, temperature: 1, topK: 0, topP: 1 });
    expect((await tessera.model.sampler.generate(sequences)).map((x) => Array.from(x))).toEqual(c.codes);
  });

  it('names graphs by transformers.js dtype suffixes and refuses float16 ones', () => {
    expect(janusGraphFile('language_model', 'q8')).toBe('onnx/language_model_quantized.onnx');
    expect(janusFiles({ language_model: 'q4' })).toContain('onnx/language_model_q4.onnx');
    expect(errorCode(() => janusFiles({ language_model: 'q4f16' }))).toBe('TESSERA_ERR_OPTION');
  });
});

describe('Janus precision: hub dtype files as the package graphs or its int8 variant', () => {
  const greedy = { prompt: 'a red circle', seed: 1, candidateIndices: [0], temperature: 0, guidanceScale: 1, rerank: false };
  it('a q4 language model runs as the package own graph; a q8 one as its int8 variant (--precision int8)', async () => {
    const dir = path.join(tempDir(), 'janus');
    cpSync(TINY_JANUS, dir, { recursive: true });
    const built = await writeJanusManifest(dir, { textLength: shipped.text.length, dtypes: { language_model: 'q4' }, int8: 'q8' });
    expect(built.generator.step).toBe('onnx/language_model_q4.onnx');
    expect(built.variants?.int8?.generator.step).toBe('onnx/language_model_quantized.onnx');
    const fp32 = await Tessera.load({ model: TINY_JANUS, rerank: false });
    const reference = Array.from((await fp32.generate(greedy)).candidates[0]!.tokens);
    for (const precision of ['fp32', 'int8'] as const) {
      const tessera = await Tessera.load({ model: dir, rerank: false, precision });
      expect(tessera.model.precision.precision).toBe(precision);
      const result = await tessera.generate(greedy);
      const tokens = Array.from(result.candidates[0]!.tokens);
      expect(tokens).toHaveLength(reference.length);
      expect(result.candidates[0]!.image.width).toBe(shipped.image.size);
      // Quantized weights move the logits a little: most greedy tokens agree with fp32's (no exact pin: floats differ by CPU).
      if (precision === 'int8') expect(tokens.filter((t, i) => t === reference[i]).length).toBeGreaterThan(reference.length / 2);
    }
  });
});

describe('Janus manifest fields', () => {
  const variant = (change: (m: Record<string, unknown>) => void) => {
    const m = structuredClone(shipped) as unknown as Record<string, unknown>;
    change(m);
    return () => parseManifest(m);
  };
  it('accepts the fixture and refuses a Janus package without its block, or the block elsewhere', () => {
    expect(parseManifest(structuredClone(shipped)).architecture).toBe('janus');
    expect(errorCode(variant((m) => delete m.janus))).toBe('TESSERA_ERR_MANIFEST');
    expect(errorCode(variant((m) => (m.architecture = 'decoder-only')))).toBe('TESSERA_ERR_MANIFEST');
    expect(errorCode(variant((m) => ((m.janus as Record<string, unknown>).extra = 1)))).toBe('TESSERA_ERR_MANIFEST');
    expect(errorCode(variant((m) => ((m.text as Record<string, unknown>).template = 'no placeholder')))).toBe('TESSERA_ERR_MANIFEST');
    expect(errorCode(variant((m) => ((m.text as Record<string, unknown>).unconditional = 'other')))).toBe('TESSERA_ERR_MANIFEST');
  });
});

describe('Janus prompt format', () => {
  it('a prompt longer than the text keeps the format tail, so it still ends with <begin_of_image>', async () => {
    const tessera = await Tessera.load({ model: TINY_JANUS, rerank: false });
    const prepared = tessera.prepare({ prompt: 'a very long prompt '.repeat(10), seed: 1, candidateIndices: [0] });
    const ids = prepared.sequences[0]!.textIds;
    expect(prepared.promptTruncated).toBe(true);
    expect(ids).toHaveLength(shipped.text.length);
    expect(ids.at(-1)).toBe(shipped.janus!.imageStartId);
    expect(ids[0]).toBe(shipped.text.unconditionalIds[0]);
    const unconditional = prepared.sequences[0]!.unconditionalIds!;
    expect(unconditional).toEqual(shipped.text.unconditionalIds); // a full-length prompt's unconditional row is the manifest's
  });
});
