import { readFileSync } from 'node:fs';
import { TesseraError } from '../errors.js';

/**
 * A minimal ONNX reader: just enough of the protobuf wire format to list a graph's
 * initializers (name, dims, data type) and nodes (op, inputs, outputs, int/ints attributes), so
 * FLOPs can be counted from the weights' shapes. onnxruntime-node exposes neither,
 * and the generator files are ~20 MB, so tensor payloads are skipped, never copied.
 * Field numbers are those of onnx.proto3 (ModelProto.graph = 7, GraphProto.node = 1,
 * .initializer = 5, .input = 11, .output = 12; TensorProto.dims = 1, .data_type = 2, .name = 8;
 * NodeProto.input = 1, .output = 2, .op_type = 4, .attribute = 5). Varints are read
 * as non-negative doubles: a negative int attribute (axis = -1, ten bytes of two's
 * complement) comes out as a huge number. The counts only read kernel shapes,
 * strides, pads, dilations, groups and block sizes, which are never negative.
 */
export interface OnnxInitializer {
  name: string;
  dims: number[];
  /** TensorProto.data_type (1 float, 2 uint8, 3 int8, 7 int64, 10 float16, …): what a weight's bytes count at. */
  dataType: number;
}

export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** INT and INTS attributes (kernel_shape, strides, pads, group, …); others are left out. */
  attributes: Record<string, number[]>;
  /**
   * A Constant node's float tensor value (e.g. a Resize's scales), when inline and small;
   * undefined otherwise.
   */
  floats?: number[];
}

export interface OnnxGraph {
  initializers: Map<string, OnnxInitializer>;
  nodes: OnnxNode[];
  inputs: string[];
  outputs: string[];
}

export interface Field {
  field: number;
  wire: number;
  /** Where the field's key begins: [at, end) is the whole field as written (rewrites copy it). */
  at: number;
  /** Varint value (wire 0) or the [start, end) of a length-delimited payload (wire 2). */
  value: number;
  start: number;
  end: number;
}

export class Reader {
  constructor(
    private readonly buf: Uint8Array,
    private pos: number,
    private readonly limit: number,
  ) {}

  private varint(): number {
    let result = 0;
    let scale = 1;
    for (;;) {
      if (this.pos >= this.limit) throw new Error('truncated varint');
      const byte = this.buf[this.pos++]!;
      result += (byte & 0x7f) * scale; // multiplication, not <<, so values past 2^31 survive
      if ((byte & 0x80) === 0) return result;
      scale *= 128;
    }
  }

  *fields(): Generator<Field> {
    while (this.pos < this.limit) {
      const at = this.pos;
      const key = this.varint();
      const field = Math.floor(key / 8);
      const wire = key & 7;
      if (wire === 0) {
        const value = this.varint();
        yield { field, wire, at, value, start: 0, end: this.pos };
      } else if (wire === 2) {
        const length = this.varint();
        const start = this.pos;
        this.pos += length;
        if (this.pos > this.limit) throw new Error('truncated field');
        yield { field, wire, at, value: length, start, end: this.pos };
      } else if (wire === 1) {
        this.pos += 8;
      } else if (wire === 5) {
        this.pos += 4;
      } else {
        throw new Error(`unsupported wire type ${wire}`);
      }
    }
  }
}

const utf8 = new TextDecoder();

function text(buf: Uint8Array, f: Field): string {
  return utf8.decode(buf.subarray(f.start, f.end));
}

/** Repeated int64 fields (dims, ints) may come packed: one length-delimited run of bare varints. */
function packedVarints(buf: Uint8Array, f: Field, into: number[]): void {
  let pos = f.start;
  while (pos < f.end) {
    let result = 0;
    let scale = 1;
    for (;;) {
      const byte = buf[pos++]!;
      result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) break;
      scale *= 128;
    }
    into.push(result);
  }
}

function readTensor(buf: Uint8Array, start: number, end: number): OnnxInitializer {
  const dims: number[] = [];
  let name = '';
  let dataType = 0;
  for (const f of new Reader(buf, start, end).fields()) {
    if (f.field === 1) {
      if (f.wire === 2) packedVarints(buf, f, dims);
      else dims.push(f.value);
    } else if (f.field === 2 && f.wire === 0) dataType = f.value;
    else if (f.field === 8 && f.wire === 2) name = text(buf, f);
  }
  return { name, dims, dataType };
}

/** TensorProto.data_type = 2, .float_data = 4 (packed), .raw_data = 9; FLOAT is data type 1. Up to 64 values. */
function tensorFloats(buf: Uint8Array, start: number, end: number): number[] | undefined {
  let dataType = 0;
  let bytes: Uint8Array | null = null;
  for (const f of new Reader(buf, start, end).fields()) {
    if (f.field === 2 && f.wire === 0) dataType = f.value;
    else if ((f.field === 9 || f.field === 4) && f.wire === 2) bytes = buf.subarray(f.start, f.end);
  }
  if (dataType !== 1 || bytes === null || bytes.length % 4 !== 0 || bytes.length > 256) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true));
}

function readAttribute(buf: Uint8Array, start: number, end: number): { name: string; values: number[]; floats?: number[] } {
  let name = '';
  const values: number[] = [];
  let floats: number[] | undefined;
  for (const f of new Reader(buf, start, end).fields()) {
    if (f.field === 1 && f.wire === 2) name = text(buf, f);
    else if (f.field === 5 && f.wire === 2) floats = tensorFloats(buf, f.start, f.end); // t
    else if (f.field === 3 && f.wire === 0) values.push(f.value); // i
    else if (f.field === 8) {
      if (f.wire === 2) packedVarints(buf, f, values);
      else values.push(f.value); // ints
    }
  }
  return { name, values, ...(floats === undefined ? {} : { floats }) };
}

function readNode(buf: Uint8Array, start: number, end: number): OnnxNode {
  const node: OnnxNode = { op: '', inputs: [], outputs: [], attributes: {} };
  for (const f of new Reader(buf, start, end).fields()) {
    if (f.field === 1 && f.wire === 2) node.inputs.push(text(buf, f));
    else if (f.field === 2 && f.wire === 2) node.outputs.push(text(buf, f));
    else if (f.field === 4 && f.wire === 2) node.op = text(buf, f);
    else if (f.field === 5 && f.wire === 2) {
      const a = readAttribute(buf, f.start, f.end);
      node.attributes[a.name] = a.values;
      if (a.floats !== undefined) node.floats = a.floats; // a tensor attribute: Constant's value
    }
  }
  return node;
}

/** ValueInfoProto.name is field 1. */
export function valueInfoName(buf: Uint8Array, f: Field): string {
  for (const inner of new Reader(buf, f.start, f.end).fields()) if (inner.field === 1 && inner.wire === 2) return text(buf, inner);
  return '';
}

export function parseOnnx(buf: Uint8Array, source = 'model'): OnnxGraph {
  const graph: OnnxGraph = { initializers: new Map(), nodes: [], inputs: [], outputs: [] };
  try {
    for (const top of new Reader(buf, 0, buf.length).fields()) {
      if (top.field !== 7 || top.wire !== 2) continue;
      for (const f of new Reader(buf, top.start, top.end).fields()) {
        if (f.wire !== 2) continue;
        if (f.field === 1) graph.nodes.push(readNode(buf, f.start, f.end));
        else if (f.field === 5) {
          const t = readTensor(buf, f.start, f.end);
          graph.initializers.set(t.name, t);
        } else if (f.field === 11) graph.inputs.push(valueInfoName(buf, f));
        else if (f.field === 12) graph.outputs.push(valueInfoName(buf, f));
      }
    }
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot read the ONNX graph of ${source}: ${(error as Error).message}`, { cause: error });
  }
  if (graph.nodes.length === 0) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `${source} holds no ONNX graph nodes`);
  return graph;
}

export function readOnnx(file: string): OnnxGraph {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  return parseOnnx(buf, file);
}
