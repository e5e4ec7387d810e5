/**
 * The decoder-only cache when the step graph takes the text prefix once per text (manifest
 * generator.cache.text = 'prefixes', scripts/convert/text_prefixes.py): per row, KV slots
 * for the image entries only (image position j in slot j, where the 'rows' cache puts it in
 * slot T + j; a 'filled' cache grows as before), and per row a reference to its text's
 * keys/values, one entry per distinct text (views of the prefill's outputs, never written),
 * not a copy per row. The same idea as the encoder-decoder's cross keys/values
 * (encoder-decoder/cross-feeds.ts): rows in P equal contiguous groups of one text are fed
 * [P, H, T, D] per layer and each group's queries meet the text in one product; any other
 * arrangement (the continuous batcher's staggered admission) is fed one entry per row.
 */
import { TesseraError } from '../../errors.js';
import type { StepCacheLayout } from '../../model/manifest.js';
import { ort } from '../../model/runtime.js';
import type { RowCache } from '../generator.js';
import { KvSlots, type CacheShape } from '../kv-slots.js';
import { prefixGroups } from '../prefix-groups.js';

/** One text's keys and values, per layer [H, T, D] each. */
export interface TextEntry {
  readonly keys: readonly Float32Array[];
  readonly values: readonly Float32Array[];
}

export interface TextDims {
  layers: number;
  heads: number;
  headDim: number;
  textLength: number;
}

/** The entries of `count` texts in the prefill's layer-major outputs: keys and values [L, P, H, T, D]. */
export function textEntries(dims: TextDims, keys: Float32Array, values: Float32Array, count: number): TextEntry[] {
  const block = dims.heads * dims.textLength * dims.headDim;
  return Array.from({ length: count }, (_, p) => {
    const at = (l: number) => (l * count + p) * block;
    return {
      keys: Array.from({ length: dims.layers }, (_, l) => keys.subarray(at(l), at(l) + block)),
      values: Array.from({ length: dims.layers }, (_, l) => values.subarray(at(l), at(l) + block)),
    };
  });
}

/** Per row, the text it reads; the step's text feeds built from that, reused until a row changes its text. */
export class TextRows {
  readonly entries: (TextEntry | null)[];
  private built: { feeds: Record<string, ort.Tensor>; count: number } | null = null;
  private buffers: { keys: Float32Array[]; values: Float32Array[]; mask: Float32Array; count: number } | null = null;

  constructor(
    private readonly dims: TextDims,
    readonly rows: number,
  ) {
    this.entries = new Array<TextEntry | null>(rows).fill(null);
  }

  set(row: number, entry: TextEntry | null): void {
    this.entries[row] = entry;
    this.built = null;
  }

  /** text_mask [P, T] and text_key_l / text_value_l [P, H, T, D]: once per text when the rows form equal groups, else once per row. */
  feeds(): Record<string, ort.Tensor> {
    if (this.built !== null) return this.built.feeds;
    const fed = prefixGroups(this.entries) ?? this.entries;
    const { layers, heads, headDim, textLength } = this.dims;
    const block = heads * textLength * headDim;
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
      mask.fill(entry === null ? 0 : 1, i * textLength, (i + 1) * textLength); // a row with no text yet reads none
    });
    const feeds: Record<string, ort.Tensor> = { text_mask: new ort.Tensor('float32', mask, [count, textLength]) }; // [P, T]
    for (let l = 0; l < layers; l++) {
      feeds[`text_key_${l}`] = new ort.Tensor('float32', keys[l], [count, heads, textLength, headDim]); // [P, H, T, D]
      feeds[`text_value_${l}`] = new ort.Tensor('float32', values[l], [count, heads, textLength, headDim]); // [P, H, T, D]
    }
    this.built = { feeds, count };
    return feeds;
  }

  /** How many entries the last feeds carried (rows, or texts when grouped); 0 before the first. */
  get fedCount(): number {
    return this.built?.count ?? 0;
  }
}

/** Image slots per row plus the text each row reads; rows outermost everywhere. */
export class TextPrefixedSlots implements RowCache {
  readonly rows: number;
  /** Image position j's keys/values in slot j. */
  readonly image: KvSlots;
  readonly text: TextRows;

  /** `shape.slots`: the image slots a row can need (maxLength - T). */
  constructor(dims: TextDims, shape: CacheShape, rows: number, layout: StepCacheLayout) {
    this.rows = rows;
    this.image = new KvSlots(shape, rows, layout, 1);
    this.text = new TextRows(dims, rows);
  }

  /** Gives `row` the text `entry` and no image entries yet. */
  writeText(row: number, entry: TextEntry): void {
    this.text.set(row, entry);
    this.image.clearRow(row);
  }

  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    if (!(from instanceof TextPrefixedSlots)) throw new TesseraError('TESSERA_ERR_INFERENCE', 'copyRows needs another text-prefixed cache');
    const entries = from.text.entries.slice(fromRow, fromRow + count); // read first: from may be this cache
    this.image.copyRows(from.image, fromRow, toRow, count);
    entries.forEach((entry, i) => this.text.set(toRow + i, entry));
  }
}
