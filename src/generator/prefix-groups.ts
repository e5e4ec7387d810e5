/**
 * Which rows share a text, as the step graphs that take per-text inputs want them: P equal
 * contiguous runs of one entry each (row r in group r / (R / P)). Shared by the
 * encoder-decoder's cross keys/values (encoder-decoder/cross-feeds.ts) and the decoder-only
 * text prefix (decoder-only/text-slots.ts).
 */

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
