/**
 * Row groups (issue 28): one batch's sequences split into consecutive groups that each
 * fit a row cap, so a request too large for memory samples its candidates a group at a
 * time. The KV cache is per row, so a group of R rows needs R / rows of the whole
 * batch's cache. Per-candidate random streams do not depend on the batch a sequence
 * runs in, so the grouped codes are the ungrouped ones.
 */
import { TesseraError } from '../errors.js';
import { rowsFor, type SequenceSpec } from './sequence.js';

/** The largest row cap accepted (serve's --max-batch-rows bound). */
export const MAX_ROWS_LIMIT = 65_536;

/** Checks a row cap (`--max-batch-rows`): undefined (no cap) or an integer from 1 to MAX_ROWS_LIMIT. */
export function checkMaxRows(maxRows: number | undefined): number | undefined {
  if (maxRows !== undefined && (!Number.isInteger(maxRows) || maxRows < 1 || maxRows > MAX_ROWS_LIMIT)) {
    throw new TesseraError('TESSERA_ERR_OPTION', `--max-batch-rows must be an integer from 1 to ${MAX_ROWS_LIMIT}, got ${JSON.stringify(maxRows)}`, { param: 'max-batch-rows' });
  }
  return maxRows;
}

/**
 * Splits sequences, in order, into consecutive groups of at most `maxRows` rows (two
 * per guided sequence): a group closes when the next sequence would not fit. Every
 * group holds at least one sequence, so a guided sequence still runs under a cap of 1.
 * Without a cap, or when everything fits, one group of all the sequences.
 */
export function rowGroups<S extends SequenceSpec>(sequences: readonly S[], maxRows: number | undefined): S[][] {
  if (maxRows === undefined || rowsFor(sequences) <= maxRows) return [[...sequences]];
  const groups: S[][] = [];
  let group: S[] = [];
  let rows = 0;
  for (const sequence of sequences) {
    const own = rowsFor([sequence]);
    if (group.length > 0 && rows + own > maxRows) {
      groups.push(group);
      group = [];
      rows = 0;
    }
    group.push(sequence);
    rows += own;
  }
  groups.push(group);
  return groups;
}

/**
 * Each request's candidates in each row group it sampled in: `requests` are the requests'
 * sequence counts in run order, `groups` the groups' (both summing to the same total).
 * A request within one group gets one entry; one split across three groups gets three.
 */
export function requestGroupShares(requests: readonly number[], groups: readonly number[]): number[][] {
  const shares: number[][] = [];
  let group = 0;
  let leftInGroup = groups[0] ?? 0;
  for (const count of requests) {
    const own: number[] = [];
    let left = count;
    while (left > 0) {
      while (leftInGroup === 0) leftInGroup = groups[++group] ?? left;
      const taken = Math.min(left, leftInGroup);
      own.push(taken);
      left -= taken;
      leftInGroup -= taken;
    }
    shares.push(own.length === 0 ? [0] : own);
  }
  return shares;
}
