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
import { PrefixRows, prefixEntries, prefixGroups, type PrefixDims, type PrefixEntry } from '../prefix-groups.js';

/** One text's cross-attention inputs: per layer keys [H, D, T] and values [H, T, D], and its text mask [T]. */
export interface CrossEntry extends PrefixEntry {
  readonly mask: Float32Array;
}

export type CrossDims = PrefixDims;

/** The entries of `count` prefixes in layer-major prefill outputs: keys [L, P, H, D, T], values [L, P, H, T, D], masks [P, T]. */
export function crossEntries(dims: CrossDims, keys: Float32Array, values: Float32Array, masks: Float32Array, count: number): CrossEntry[] {
  return prefixEntries(dims, keys, values, count, masks) as CrossEntry[];
}

/** (Moved to ../prefix-groups.ts, which the decoder-only text prefix shares.) */
export { prefixGroups };

/**
 * text_mask and cross_key_l / cross_value_l feeds: `feeds(perPrefix)` once per prefix when
 * the graph takes that and the rows form equal groups, else once per row.
 */
export class CrossRows extends PrefixRows<CrossEntry> {
  constructor(dims: CrossDims, rows: number) {
    super(dims, rows, { key: 'cross_key', value: 'cross_value', keysTransposed: true });
  }
}
