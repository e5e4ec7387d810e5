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
import type { RowCache } from '../generator.js';
import { KvSlots, type CacheShape } from '../kv-slots.js';
import { PrefixRows, prefixEntries, type PrefixDims, type PrefixEntry } from '../prefix-groups.js';

/** One text's keys and values, per layer [H, T, D] each (every slot read: no mask). */
export type TextEntry = PrefixEntry;

export type TextDims = PrefixDims;

/** The entries of `count` texts in the prefill's layer-major outputs: keys and values [L, P, H, T, D]. */
export function textEntries(dims: TextDims, keys: Float32Array, values: Float32Array, count: number): TextEntry[] {
  return prefixEntries(dims, keys, values, count);
}

/** Per row, the text it reads; text_mask and text_key_l / text_value_l [P, H, T, D], once per text when the rows form equal groups, else once per row. */
export class TextRows extends PrefixRows<TextEntry> {
  constructor(dims: TextDims, rows: number) {
    super(dims, rows, { key: 'text_key', value: 'text_value', keysTransposed: false });
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

  release(): void {
    this.image.release();
  }

  copyRows(from: RowCache, fromRow: number, toRow: number, count: number): void {
    if (!(from instanceof TextPrefixedSlots)) throw new TesseraError('TESSERA_ERR_INFERENCE', 'copyRows needs another text-prefixed cache');
    const entries = from.text.entries.slice(fromRow, fromRow + count); // read first: from may be this cache
    this.image.copyRows(from.image, fromRow, toRow, count);
    entries.forEach((entry, i) => this.text.set(toRow + i, entry));
  }
}
