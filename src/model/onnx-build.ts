/**
 * A small ONNX writer for the glue graphs Tessera builds at run time (issue 29: the graphs
 * that keep the KV cache on the device), so no binary graph has to ship beside the code.
 * It writes the protobuf wire format of onnx.proto (ModelProto, GraphProto, NodeProto,
 * TensorProto, ValueInfoProto) for what those graphs use: int and ints attributes, raw
 * initializers, float32/int64/bool inputs with symbolic or fixed dims.
 */

/** onnx.proto TensorProto.DataType values used here. */
export const ONNX_TYPES = { float32: 1, int64: 7, bool: 9 } as const;
export type OnnxType = keyof typeof ONNX_TYPES;

export interface BuildNode {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Integer or integer-list attributes (axis, perm). */
  attributes?: Record<string, number | number[]>;
}

export interface BuildValue {
  name: string;
  type: OnnxType;
  /** A number is a fixed dim; a string a symbolic one. */
  dims: (number | string)[];
}

export interface BuildGraph {
  name: string;
  inputs: BuildValue[];
  outputs: BuildValue[];
  nodes: BuildNode[];
  /** int64 constants (scalars when dims is []). */
  constants?: { name: string; dims: number[]; values: number[] }[];
  /** float32 weights kept as external data: the whole of `location` (a file beside the graph). */
  externalFloats?: { name: string; dims: number[]; location: string }[];
  opset?: number;
}

export class Writer {
  private readonly parts: number[] = [];
  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    while (v >= 0x80n) {
      this.parts.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.parts.push(Number(v));
    return this;
  }
  int(field: number, value: number | bigint): this {
    return this.varint(field << 3).varint(value);
  }
  bytes(field: number, data: Uint8Array): this {
    this.varint((field << 3) | 2).varint(data.length);
    for (const b of data) this.parts.push(b);
    return this;
  }
  string(field: number, text: string): this {
    return this.bytes(field, new TextEncoder().encode(text));
  }
  message(field: number, build: (w: Writer) => void): this {
    const inner = new Writer();
    build(inner);
    return this.bytes(field, inner.done());
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function valueInfo(w: Writer, field: number, v: BuildValue): void {
  w.message(field, (info) => {
    info.string(1, v.name);
    info.message(2, (type) =>
      type.message(1, (tensor) => {
        tensor.int(1, ONNX_TYPES[v.type]);
        tensor.message(2, (shape) => {
          for (const d of v.dims) shape.message(1, (dim) => (typeof d === 'number' ? dim.int(1, d) : dim.string(2, d)));
        });
      }),
    );
  });
}

/** The serialized ModelProto (IR version 8), ready for InferenceSession.create. */
export function buildOnnx(graph: BuildGraph): Uint8Array {
  const model = new Writer();
  model.int(1, 8); // ir_version
  model.string(2, 'tessera'); // producer_name
  model.message(7, (g) => {
    graph.nodes.forEach((n, i) =>
      g.message(1, (node) => {
        for (const input of n.inputs) node.string(1, input);
        for (const output of n.outputs) node.string(2, output);
        node.string(3, `${n.op}_${i}`);
        node.string(4, n.op);
        for (const [name, value] of Object.entries(n.attributes ?? {})) {
          node.message(5, (a) => {
            a.string(1, name);
            if (Array.isArray(value)) {
              for (const x of value) a.int(8, x);
              a.int(20, 7); // INTS
            } else {
              a.int(3, value);
              a.int(20, 2); // INT
            }
          });
        }
      }),
    );
    g.string(2, graph.name);
    for (const c of graph.constants ?? []) {
      g.message(5, (t) => {
        for (const d of c.dims) t.int(1, d);
        t.int(2, ONNX_TYPES.int64);
        t.string(8, c.name);
        t.bytes(9, new Uint8Array(BigInt64Array.from(c.values, (x) => BigInt(x)).buffer));
      });
    }
    for (const e of graph.externalFloats ?? []) {
      g.message(5, (t) => {
        for (const d of e.dims) t.int(1, d);
        t.int(2, ONNX_TYPES.float32);
        t.string(8, e.name);
        t.message(13, (entry) => entry.string(1, 'location').string(2, e.location)); // external_data
        t.int(14, 1); // data_location: EXTERNAL
      });
    }
    for (const v of graph.inputs) valueInfo(g, 11, v);
    for (const v of graph.outputs) valueInfo(g, 12, v);
  });
  model.message(8, (o) => o.string(1, '').int(2, graph.opset ?? 17));
  return model.done();
}
