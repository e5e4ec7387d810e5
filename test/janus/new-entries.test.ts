/**
 * The language model rewritten to return only each step's new cache entries
 * (src/model/new-entry-outputs.ts): the rewrite's graph, the same tokens as the graph as
 * published, a graph it must not rewrite, and a graph whose weights are external data
 * loaded from memory with its folder. Tokens are compared exactly; no floats pinned.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JanusGenerator } from '../../src/generator/janus/generator.js';
import { loadJanusLanguageModel } from '../../src/generator/janus/language-model.js';
import { buildOnnx } from '../../src/model/onnx-build.js';
import { parseOnnx } from '../../src/model/onnx-graph.js';
import { findNewEntries, withNewEntryOutputs } from '../../src/model/new-entry-outputs.js';
import { createSession, ort } from '../../src/model/runtime.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { BatchSampler } from '../../src/sampler/sampler.js';
import { TINY_JANUS } from '../helpers/janus.js';

const LM = path.join(TINY_JANUS, 'onnx/language_model.onnx');
let tessera: Tessera;
const dirs: string[] = [];
beforeAll(async () => {
  tessera = await Tessera.load({ model: TINY_JANUS, rerank: false });
});
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe('the new-entry rewrite of a Janus language model', () => {
  it('drops the present outputs, adds the Concats\' new entries, and keeps every node and weight', () => {
    const layers = tessera.manifest.generator.layers;
    const bytes = readFileSync(LM);
    const rewritten = withNewEntryOutputs(bytes, layers, LM);
    if ('reason' in rewritten) throw new Error(rewritten.reason);
    const before = parseOnnx(bytes);
    const after = parseOnnx(rewritten.bytes);
    expect(after.outputs.filter((name) => name.startsWith('present'))).toEqual([]);
    const hidden = before.outputs.filter((name) => !name.startsWith('present'));
    expect(after.outputs).toEqual([...hidden, ...rewritten.outputs.keys.flatMap((key, l) => [key, rewritten.outputs.values[l]!])]);
    expect(after.nodes).toEqual(before.nodes);
    expect([...after.initializers.keys()]).toEqual([...before.initializers.keys()]);
    expect(after.inputs).toEqual(before.inputs);
  });

  it('samples exactly the tokens the graph as published samples (guided, several candidates)', async () => {
    const { manifest } = tessera;
    const load = async (rewrite: boolean) => {
      const language = rewrite ? await loadJanusLanguageModel(LM, 'cpu', manifest.generator.layers) : { session: await createSession(LM, 'cpu') };
      expect(language.newEntries !== undefined).toBe(rewrite);
      const file = (name: string) => path.join(TINY_JANUS, name);
      const janus = manifest.janus!;
      const sessions = {
        languageModel: language.session,
        prepareInputsEmbeds: await createSession(file(janus.prepareInputsEmbeds), 'cpu'),
        genImgEmbeds: await createSession(file(janus.genImgEmbeds), 'cpu'),
        genHead: await createSession(file(janus.genHead), 'cpu'),
        ...(language.newEntries === undefined ? {} : { newEntries: language.newEntries }),
      };
      return new BatchSampler(new JanusGenerator(manifest, sessions));
    };
    const sequences = tessera.prepare({ prompt: 'two blue stars above a green square', seed: 42, candidateIndices: [0, 1, 2], guidanceScale: 5, rerank: false }).sequences;
    const published = await (await load(false)).generate(sequences);
    const rewritten = await (await load(true)).generate(sequences);
    expect(rewritten.map((c) => Array.from(c))).toEqual(published.map((c) => Array.from(c)));
  });

  it('leaves a graph alone whose present output is not a Concat of its past (and says why)', () => {
    const graph = buildOnnx({
      name: 'fused',
      inputs: [{ name: 'past_key_values.0.key', type: 'float32', dims: [1, 1, 'past', 2] }, { name: 'past_key_values.0.value', type: 'float32', dims: [1, 1, 'past', 2] }],
      outputs: [{ name: 'present.0.key', type: 'float32', dims: [1, 1, 'past', 2] }, { name: 'present.0.value', type: 'float32', dims: [1, 1, 'past', 2] }],
      nodes: [
        { op: 'Identity', inputs: ['past_key_values.0.key'], outputs: ['present.0.key'] },
        { op: 'Identity', inputs: ['past_key_values.0.value'], outputs: ['present.0.value'] },
      ],
    });
    const found = findNewEntries(graph, 1, 'fused');
    expect('reason' in found && found.reason).toMatch(/present\.0\.key is made by Identity\(past_key_values\.0\.key\), not Concat/);
  });

  it('loads a rewritten graph whose weights are external data from its own folder', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tessera-new-entries-'));
    dirs.push(dir);
    // new = x * w (w external, 2 floats in w.bin); present = Concat(past, new) on the slot axis.
    writeFileSync(path.join(dir, 'w.bin'), Buffer.from(new Float32Array([2, 3]).buffer));
    const graph = buildOnnx({
      name: 'external',
      inputs: [
        { name: 'x', type: 'float32', dims: [1, 1, 1, 2] },
        { name: 'past_key_values.0.key', type: 'float32', dims: [1, 1, 'past', 2] },
        { name: 'past_key_values.0.value', type: 'float32', dims: [1, 1, 'past', 2] },
      ],
      outputs: [
        { name: 'hidden', type: 'float32', dims: [1, 1, 1, 2] },
        { name: 'present.0.key', type: 'float32', dims: [1, 1, 'total', 2] },
        { name: 'present.0.value', type: 'float32', dims: [1, 1, 'total', 2] },
      ],
      nodes: [
        { op: 'Mul', inputs: ['x', 'w'], outputs: ['new_key'] },
        { op: 'Add', inputs: ['new_key', 'x'], outputs: ['new_value'] },
        { op: 'Identity', inputs: ['x'], outputs: ['hidden'] },
        { op: 'Concat', inputs: ['past_key_values.0.key', 'new_key'], outputs: ['present.0.key'], attributes: { axis: 2 } },
        { op: 'Concat', inputs: ['past_key_values.0.value', 'new_value'], outputs: ['present.0.value'], attributes: { axis: 2 } },
      ],
      externalFloats: [{ name: 'w', dims: [2], location: 'w.bin' }],
    });
    const file = path.join(dir, 'language_model.onnx');
    writeFileSync(file, graph);
    const loaded = await loadJanusLanguageModel(file, 'cpu', 1);
    expect(loaded.newEntries).toEqual({ keys: ['new_key'], values: ['new_value'] });
    const out = await loaded.session.run({
      x: new ort.Tensor('float32', new Float32Array([1, 1]), [1, 1, 1, 2]),
      'past_key_values.0.key': new ort.Tensor('float32', new Float32Array([5, 5]), [1, 1, 1, 2]),
      'past_key_values.0.value': new ort.Tensor('float32', new Float32Array([5, 5]), [1, 1, 1, 2]),
    });
    expect(Object.keys(out).sort()).toEqual(['hidden', 'new_key', 'new_value']);
    expect(Array.from(out.new_key!.data as Float32Array)).toEqual([2, 3]);
    expect(Array.from(out.new_value!.data as Float32Array)).toEqual([3, 4]);
  });
});
