/**
 * Which rows share a text, as the step graphs that take per-text inputs want them: P equal
 * contiguous runs of one entry each (row r in group r / (R / P)). Shared by the
 * encoder-decoder's cross keys/values (encoder-decoder/cross-feeds.ts) and the decoder-only
 * text prefix (decoder-only/text-slots.ts), as are the entries and their feeds below.
 */
import { ort } from '../model/runtime.js';

/**
 * The entries each row reads, as groups: the first row's entry of each of P equal contiguous
 * runs of one entry, or null when the rows do not form such runs. (A row with no entry,
 * null, counts as an entry of its own.)
 */
export function prefixGroups<Entry>(rows: readonly Entry[]): Entry[] | null {
  if (rows.length === 0) return null;
  let run = 1;
  while (run < rows.length && rows[run] === rows[0]) run++;
  if (rows.length % run !== 0) return null;
  const heads: Entry[] = [];
  for (let start = 0; start < rows.length; start += run) {
    for (let r = start; r < start + run; r++) if (rows[r] !== rows[start]) return null;
    heads.push(rows[start]);
  }
  return heads;
}

/** One text's per-layer keys and values (views of a prefill output, never written) and, where the text has padding to skip, its mask [T] (else every slot is read). */
export interface PrefixEntry {
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
  readonly mask?: Float32Array;
}

export interface PrefixDims {
  layers: number;
  heads: number;
  headDim: number;
  textLength: number;
}

/** The entries of `count` texts in layer-major prefill outputs (keys and values [L, P, ...] with an [H, T, D] or [H, D, T] block each; masks [P, T]). */
export function prefixEntries(dims: PrefixDims, keys: Float32Array, values: Float32Array, count: number, masks?: Float32Array): PrefixEntry[] {
  const { layers, heads, headDim, textLength } = dims;
  const block = heads * headDim * textLength;
  return Array.from({ length: count }, (_, p) => {
    const at = (l: number) => (l * count + p) * block;
    return {
      keys: Array.from({ length: layers }, (_, l) => keys.subarray(at(l), at(l) + block)),
      values: Array.from({ length: layers }, (_, l) => values.subarray(at(l), at(l) + block)),
      ...(masks === undefined ? {} : { mask: masks.subarray(p * textLength, (p + 1) * textLength) }),
    };
  });
}

/** The feeds' names (`${key}_${l}`, `${value}_${l}`) and whether the keys are stored [H, D, T] (else [H, T, D]). */
export interface PrefixFeedLayout {
  key: string;
  value: string;
  keysTransposed: boolean;
}

/**
 * Per row, the text entry it reads; the step's text_mask [P, T] and per-layer key/value feeds
 * built from that: once per text when `grouped` and the rows form equal groups
 * (prefixGroups), else once per row. Built once and reused until a row changes its entry.
 */
export class PrefixRows<Entry extends PrefixEntry> {
  readonly entries: (Entry | null)[];
  private built: { feeds: Record<string, ort.Tensor>; count: number; grouped: boolean } | null = null;
  private buffers: { keys: Float32Array[]; values: Float32Array[]; mask: Float32Array; count: number } | null = null;

  constructor(
    private readonly dims: PrefixDims,
    readonly rows: number,
    private readonly layout: PrefixFeedLayout,
  ) {
    this.entries = new Array<Entry | null>(rows).fill(null);
  }

  set(row: number, entry: Entry | null): void {
    this.entries[row] = entry;
    this.built = null;
  }

  feeds(grouped = true): Record<string, ort.Tensor> {
    if (this.built !== null && this.built.grouped === grouped) return this.built.feeds;
    const fed = (grouped ? prefixGroups(this.entries) : null) ?? this.entries;
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
      if (entry?.mask !== undefined) mask.set(entry.mask, i * textLength);
      else mask.fill(entry === null ? 0 : 1, i * textLength, (i + 1) * textLength); // a row with no text yet reads none
    });
    const feeds: Record<string, ort.Tensor> = { text_mask: new ort.Tensor('float32', mask, [count, textLength]) }; // [P, T]
    const keyDims = this.layout.keysTransposed ? [count, heads, headDim, textLength] : [count, heads, textLength, headDim]; // [P, H, D, T] or [P, H, T, D]
    for (let l = 0; l < layers; l++) {
      feeds[`${this.layout.key}_${l}`] = new ort.Tensor('float32', keys[l], keyDims);
      feeds[`${this.layout.value}_${l}`] = new ort.Tensor('float32', values[l], [count, heads, textLength, headDim]); // [P, H, T, D]
    }
    this.built = { feeds, count, grouped };
    return feeds;
  }

  /** How many entries the last feeds carried (rows, or texts when grouped); 0 before the first. */
  get fedCount(): number {
    return this.built?.count ?? 0;
  }
}
