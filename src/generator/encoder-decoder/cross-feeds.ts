/**
 * The encoder-decoder step's cross-attention inputs: which text each row reads, and the
 * feeds built from that. Rows share texts (with guidance, N rows of the prompt and N of
 * the empty text), so the cache keeps one entry per prefix (views of the prefill's
 * outputs, never written) and a reference per row, not a copy per row.
 *
 * A step graph rewritten by scripts/convert/cross_prefixes.py (manifest
 * encoderDecoder.cross = 'prefixes') takes the entries once per prefix when the rows form
 * P equal contiguous groups of one entry each ([P, H, D, T] per layer, row r in group
 * r / (R / P)) and multiplies each group's queries in one product; any other arrangement,
 * and a graph as min_dalle.py exports it, gets one entry per row ([R, H, D, T]), as before.
 * The feeds are built once and reused until a row changes its entry.
 */
import { ort } from '../../model/runtime.js';
import { prefixGroups } from '../prefix-groups.js';

/** One text's cross-attention inputs: per layer keys [H, D, T] and values [H, T, D], and its text mask [T]. */
export interface CrossEntry {
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
  readonly mask: Float32Array;
}

export interface CrossDims {
  layers: number;
  heads: number;
  headDim: number;
  textLength: number;
}

/** The entries of `count` prefixes in layer-major prefill outputs: keys [L, P, H, D, T], values [L, P, H, T, D], masks [P, T]. */
export function crossEntries(dims: CrossDims, keys: Float32Array, values: Float32Array, masks: Float32Array, count: number): CrossEntry[] {
  const { layers, heads, headDim, textLength } = dims;
  const block = heads * headDim * textLength;
  return Array.from({ length: count }, (_, p) => {
    const at = (l: number) => (l * count + p) * block;
    return {
      keys: Array.from({ length: layers }, (_, l) => keys.subarray(at(l), at(l) + block)),
      values: Array.from({ length: layers }, (_, l) => values.subarray(at(l), at(l) + block)),
      mask: masks.subarray(p * textLength, (p + 1) * textLength),
    };
  });
}

/** (Moved to ../prefix-groups.ts, which the decoder-only text prefix shares.) */
export { prefixGroups };

export class CrossRows {
  /** The entry row r reads; null until a prefix is written to it. */
  readonly entries: (CrossEntry | null)[];
  private built: { feeds: Record<string, ort.Tensor>; count: number; perPrefix: boolean } | null = null;
  private buffers: { keys: Float32Array[]; values: Float32Array[]; mask: Float32Array; count: number } | null = null;

  constructor(
    private readonly dims: CrossDims,
    readonly rows: number,
  ) {
    this.entries = new Array<CrossEntry | null>(rows).fill(null);
  }

  set(row: number, entry: CrossEntry | null): void {
    this.entries[row] = entry;
    this.built = null;
  }

  /**
   * text_mask and cross_key_l / cross_value_l feeds: once per prefix when `perPrefix` (the
   * graph takes that) and the rows form equal groups, else once per row.
   */
  feeds(perPrefix: boolean): Record<string, ort.Tensor> {
    if (this.built !== null && this.built.perPrefix === perPrefix) return this.built.feeds;
    const fed = (perPrefix ? prefixGroups(this.entries) : null) ?? this.entries;
    const { layers, heads, headDim, textLength } = this.dims;
    const block = heads * headDim * textLength;
    const count = fed.length;
    if (this.buffers === null || this.buffers.count !== count) {
      const slab = () => Array.from({ length: layers }, () => new Float32Array(count * block));
      this.buffers = { keys: slab(), values: slab(), mask: new Float32Array(count * textLength), count };
    }
    const { keys, values, mask } = this.buffers;
    fed.forEach((entry, i) => {
      for (let l = 0; l < layers; l++) {
        if (entry === null) {
          keys[l].fill(0, i * block, (i + 1) * block);
          values[l].fill(0, i * block, (i + 1) * block);
        } else {
          keys[l].set(entry.keys[l], i * block);
          values[l].set(entry.values[l], i * block);
        }
      }
      if (entry === null) mask.fill(0, i * textLength, (i + 1) * textLength);
      else mask.set(entry.mask, i * textLength);
    });
    const feeds: Record<string, ort.Tensor> = { text_mask: new ort.Tensor('float32', mask, [count, textLength]) }; // [P, T]
    for (let l = 0; l < layers; l++) {
      feeds[`cross_key_${l}`] = new ort.Tensor('float32', keys[l], [count, heads, headDim, textLength]); // [P, H, D, T]
      feeds[`cross_value_${l}`] = new ort.Tensor('float32', values[l], [count, heads, textLength, headDim]); // [P, H, T, D]
    }
    this.built = { feeds, count, perPrefix };
    return feeds;
  }

  /** How many entries the last feeds carried (rows, or prefixes when grouped); 0 before the first. */
  get fedCount(): number {
    return this.built?.count ?? 0;
  }
}
