/**
 * The architectures behind the generator seam, by `manifest.architecture`: the one place
 * that dispatches on it. The loader asks it for a generator; the footprint for the
 * generator's own count of its phases' FLOPs and bytes.
 */
import path from 'node:path';
import { DEFAULT_STEP_CACHE, type ModelManifest } from '../model/manifest.js';
import type { OnnxGraph } from '../model/onnx-graph.js';
import { prepareOutputCollection } from '../model/output-memory.js';
import { graphsFor, likelyPrecision, type PrecisionChoice } from '../model/precision.js';
import { createSession, type SessionTuning } from '../model/runtime.js';
import type { Device } from '../types.js';
import { DecoderOnlyCost } from './decoder-only/cost.js';
import { DecoderOnlyGenerator, rowSlotsShape } from './decoder-only/generator.js';
import { DeviceKv, deviceKvWanted, emptyTransfer } from './device-kv.js';
import { warmBuffers } from './kv-buffers.js';
import { int8KvSlotsFloats } from './kv-slots-int8.js';
import { kvSlotsFloats } from './kv-slots.js';
import { stepFileReadsInt8Cache } from './self-slots.js';
import { EncoderDecoderCost } from './encoder-decoder/cost.js';
import { EncoderDecoderGenerator, selfSlotsShape } from './encoder-decoder/generator.js';
import type { GeneratorArchitecture, GeneratorGraphs } from './generator.js';
import { JanusCost } from './janus/cost.js';
import { JanusGenerator } from './janus/generator.js';
import { loadJanusLanguageModel } from './janus/language-model.js';

/** With the KV cache on the device, a step's new entries stay there for its write graph (src/generator/device-kv.ts). */
const DEVICE_ENTRIES = { new_keys: 'gpu-buffer', new_values: 'gpu-buffer' } as const;

const ARCHITECTURES: Record<ModelManifest['architecture'], GeneratorArchitecture> = {
  'decoder-only': {
    async load(manifest: ModelManifest, file: (relative: string) => string, device: Device, graphs: GeneratorGraphs, tuning: SessionTuning = {}) {
      // The first session tells whether the device works; the rest load after it.
      const prefill = await createSession(file(graphs.prefill), device, undefined, tuning);
      const step = await createSession(file(graphs.step), device, deviceKvWanted(device) ? DEVICE_ENTRIES : undefined, tuning);
      const transfer = emptyTransfer();
      const cache = manifest.generator.cache ?? DEFAULT_STEP_CACHE;
      // A text fed once per text (cache.text 'prefixes') changes only with the rows: kept on the device with the cache.
      const { layers } = manifest.generator;
      const carry = cache.text !== 'prefixes' ? [] : [{ name: 'text_mask', rank: 2 }, ...Array.from({ length: layers }, (_, l) => [{ name: `text_key_${l}`, rank: 4 }, { name: `text_value_${l}`, rank: 4 }]).flat()];
      const deviceKv = deviceKvWanted(device) ? await DeviceKv.create(device, layers, cache.keys === 'transposed', transfer, carry) : null;
      return {
        generator: new DecoderOnlyGenerator(manifest, prefill, step, deviceKv, transfer),
        release: async () => void (await Promise.all([prefill.release(), step.release(), deviceKv?.dispose()])),
      };
    },
    cost: (manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs?: GeneratorGraphs) => new DecoderOnlyCost(manifest, graph, graphs),
    rowSlots: rowSlotsShape,
  },
  'encoder-decoder': {
    async load(manifest: ModelManifest, file: (relative: string) => string, device: Device, graphs: GeneratorGraphs, tuning: SessionTuning = {}) {
      // The text encoder runs once per prompt: no variant has one.
      const textEncoder = await createSession(file(manifest.encoderDecoder?.textEncoder ?? ''), device, undefined, tuning);
      const prefill = await createSession(file(graphs.prefill), device, undefined, tuning);
      const step = await createSession(file(graphs.step), device, deviceKvWanted(device) ? DEVICE_ENTRIES : undefined, tuning);
      const transfer = emptyTransfer();
      const { layers } = manifest.generator;
      // The cross keys/values and text mask change only with the rows: kept on the device with the cache.
      const carry = [{ name: 'text_mask', rank: 2 }, ...Array.from({ length: layers }, (_, l) => [{ name: `cross_key_${l}`, rank: 4 }, { name: `cross_value_${l}`, rank: 4 }]).flat()];
      const keysTransposed = (manifest.generator.cache ?? DEFAULT_STEP_CACHE).keys === 'transposed';
      const deviceKv = deviceKvWanted(device) ? await DeviceKv.create(device, layers, keysTransposed, transfer, carry) : null;
      return {
        generator: new EncoderDecoderGenerator(manifest, textEncoder, prefill, step, deviceKv, transfer),
        release: async () => void (await Promise.all([textEncoder.release(), prefill.release(), step.release(), deviceKv?.dispose()])),
      };
    },
    cost: (manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs?: GeneratorGraphs) => new EncoderDecoderCost(manifest, graph, graphs),
    rowSlots: selfSlotsShape,
  },
  janus: {
    async load(manifest: ModelManifest, file: (relative: string) => string, device: Device, graphs: GeneratorGraphs, tuning: SessionTuning = {}) {
      // prefill and step name the one language model (a variant's, at another precision); the small graphs have no variants.
      const janus = manifest.janus!;
      const { session: languageModel, newEntries } = await loadJanusLanguageModel(file(graphs.step), device, manifest.generator.layers, tuning);
      const prepareInputsEmbeds = await createSession(file(janus.prepareInputsEmbeds), device, undefined, tuning);
      const genImgEmbeds = await createSession(file(janus.genImgEmbeds), device, undefined, tuning);
      const genHead = await createSession(file(janus.genHead), device, undefined, tuning);
      const sessions = { prepareInputsEmbeds, languageModel, genImgEmbeds, genHead };
      return {
        generator: new JanusGenerator(manifest, { ...sessions, ...(newEntries === undefined ? {} : { newEntries }) }),
        release: async () => void (await Promise.all(Object.values(sessions).map((s) => s.release()))),
      };
    },
    cost: (manifest: ModelManifest, graph: (relative: string) => OnnxGraph, graphs?: GeneratorGraphs) => new JanusCost(manifest, graph, graphs),
  },
};

/**
 * Starts mapping a first KV cache of `rows` rows on another thread (kv-buffers.ts' warmBuffers);
 * resolves when it is this thread's, at once when there is none to map (not the CPU, no rows, an
 * architecture with a cache of its own). With `int8Cache` (firstStepReadsInt8Cache's answer,
 * asked once by the loader and handed to its lanes) the blocks are an int8 cache's, a quarter of
 * the bytes (a float cache mapped for it went unused: 1.6 GB more peak memory for the
 * Mini-shaped package's 32 candidates in two lanes, docs/benchmarks.md "The first cache of an
 * int8-cache step").
 */
export function warmFirstCache(manifest: ModelManifest, device: Device, rows: number | undefined, int8Cache: boolean): Promise<void> {
  const rowSlots = ARCHITECTURES[manifest.architecture].rowSlots;
  if (device !== 'cpu' || rowSlots === undefined || rows === undefined) return Promise.resolve();
  const shape = rowSlots(manifest);
  const blocks = int8Cache ? int8KvSlotsFloats(shape, rows) : kvSlotsFloats(shape, rows);
  return blocks === null ? Promise.resolve() : warmBuffers(blocks.count, blocks.size);
}

/**
 * Whether the step graph a load of `requested` most likely runs (likelyPrecision), in package
 * `dir`, reads an int8 cache. Never throws: a precision the package lacks fails in the loader,
 * with its own error (lanes may already be starting).
 */
export function firstStepReadsInt8Cache(manifest: ModelManifest, dir: string, requested: PrecisionChoice): boolean {
  try {
    return stepFileReadsInt8Cache(path.join(dir, graphsFor(manifest, likelyPrecision(manifest, requested)).step));
  } catch {
    return false;
  }
}

/** The implementation named by the manifest's architecture. */
export function architectureOf(manifest: ModelManifest): GeneratorArchitecture {
  const { load, cost, rowSlots } = ARCHITECTURES[manifest.architecture];
  return {
    ...(rowSlots === undefined ? {} : { rowSlots }),
    // Every architecture's steps run through runCollected (model/output-memory.ts): the
    // thread's means of collecting is set up while loading (a new V8 context, ~3 ms), not in the first step.
    load: (...args: Parameters<GeneratorArchitecture['load']>) => {
      prepareOutputCollection();
      return load(...args);
    },
    cost,
  };
}
