import { Writer } from './onnx-build.js';
import { parseOnnx, Reader, valueInfoName, type Field } from './onnx-graph.js';

/**
 * A language model that returns its whole grown cache (`present.{l}.key/value` =
 * Concat(`past_key_values.{l}.key/value`, the new entries) on the slot axis, as
 * onnx-community's Janus exports do) rewritten to return only the new entries: the tensors
 * each Concat appends. The Concat stays inside the graph, where attention reads it.
 *
 * Why: a graph output is a fresh allocation on every run. At 8 rows of a
 * Janus-Pro-1B-shaped language model late in the grid the 48 present outputs are 44 MB
 * each, above glibc's mmap threshold, so every step took 2 GB from the OS and gave it
 * back: 515,000 page faults and 8-10 s a step; preallocated outputs did not avoid it.
 * Rewritten, the grown cache is an intermediate value from onnxruntime's arena, reused
 * run after run: 1.4-1.7 s a step and no faults (measured 2026-12-05 on an AMD EPYC,
 * out of docs/janus.md "Costs"), and the run no longer holds a second copy of the cache.
 * Tessera's own step graphs return only the new entries for the same reason.
 */
export interface NewEntryOutputs {
  /** Per layer, the graph output holding that step's new keys ([R, H, n, D]). */
  keys: string[];
  values: string[];
}

export interface NewEntryGraph {
  /** The rewritten ModelProto (initializers as they were: inline, or in the same external data files). */
  bytes: Uint8Array;
  outputs: NewEntryOutputs;
}

/** The cache's input and output names of layer l (transformers.js's past_key_values.{l}.key → present.{l}.key). */
function cacheNames(l: number, kind: 'key' | 'value'): { past: string; present: string } {
  return { past: `past_key_values.${l}.${kind}`, present: `present.${l}.${kind}` };
}

/**
 * The new-entry outputs of a language model, or why it cannot be rewritten (a present
 * output not made by a Concat of its past input: a fused attention kernel, another
 * export) — the caller then runs the graph as it is.
 */
export function findNewEntries(bytes: Uint8Array, layers: number, source: string): NewEntryOutputs | { reason: string } {
  const graph = parseOnnx(bytes, source);
  const producer = new Map(graph.nodes.flatMap((node) => node.outputs.map((output) => [output, node] as const)));
  const outputs: NewEntryOutputs = { keys: [], values: [] };
  for (let l = 0; l < layers; l++) {
    for (const kind of ['key', 'value'] as const) {
      const { past, present } = cacheNames(l, kind);
      if (!graph.outputs.includes(present)) return { reason: `no output ${present}` };
      const node = producer.get(present);
      if (node?.op !== 'Concat' || node.inputs.length !== 2 || node.inputs[0] !== past) {
        return { reason: `${present} is made by ${node === undefined ? 'no node' : `${node.op}(${node.inputs.join(', ')})`}, not Concat(${past}, new entries)` };
      }
      (kind === 'key' ? outputs.keys : outputs.values).push(node.inputs[1]!);
    }
  }
  const presentCount = graph.outputs.filter((name) => name.startsWith('present')).length;
  if (presentCount !== 2 * layers) return { reason: `${presentCount} present outputs for ${layers} layers` };
  return outputs;
}

/** A graph output of type float, rank left open: ValueInfoProto { name, type { tensor_type { elem_type: FLOAT } } }. */
function floatOutput(name: string): Uint8Array {
  return new Writer().message(12, (info) => info.string(1, name).message(2, (type) => type.message(1, (tensor) => tensor.int(1, 1)))).done();
}

/** A length-delimited field's key and length (its payload follows). */
function fieldHead(field: number, length: number): Uint8Array {
  return new Writer().varint((field << 3) | 2).varint(length).done();
}

/**
 * Rewrites the graph (see the file's comment): the `present.*` outputs leave the graph's
 * output list and the new entries join it. Byte ranges are copied, never re-encoded, so
 * everything else (initializers, metadata, fields this reader does not know) is kept as it is.
 */
export function withNewEntryOutputs(bytes: Uint8Array, layers: number, source = 'model'): NewEntryGraph | { reason: string } {
  const outputs = findNewEntries(bytes, layers, source);
  if ('reason' in outputs) return outputs;
  let graphField: Field | undefined;
  for (const top of new Reader(bytes, 0, bytes.length).fields()) if (top.field === 7 && top.wire === 2) graphField = top;
  if (graphField === undefined) return { reason: 'no graph' };
  const parts: Uint8Array[] = [];
  let copied = graphField.start;
  for (const f of new Reader(bytes, graphField.start, graphField.end).fields()) {
    if (f.field !== 12 || f.wire !== 2 || !valueInfoName(bytes, f).startsWith('present')) continue;
    parts.push(bytes.subarray(copied, f.at));
    copied = f.end;
  }
  parts.push(bytes.subarray(copied, graphField.end));
  for (let l = 0; l < layers; l++) parts.push(floatOutput(outputs.keys[l]!), floatOutput(outputs.values[l]!));
  const graphLength = parts.reduce((n, p) => n + p.length, 0);
  const rewritten = Buffer.concat([bytes.subarray(0, graphField.at), fieldHead(7, graphLength), ...parts, bytes.subarray(graphField.end)]);
  return { bytes: rewritten, outputs };
}
