/**
 * Top-k selection over a score array with a fixed tie order: higher score first, and
 * among equal scores the smaller `order` key first (the index passes insertion order,
 * so a page never reshuffles between two identical queries). A binary min-heap of the
 * k best seen so far makes one pass O(n log k) instead of sorting all n scores.
 */

export interface Ranked {
  /** Position in the score array. */
  slot: number;
  score: number;
}

/** True when (scoreA, orderA) ranks strictly below (scoreB, orderB). */
function worse(scoreA: number, orderA: number, scoreB: number, orderB: number): boolean {
  return scoreA < scoreB || (scoreA === scoreB && orderA > orderB);
}

/**
 * The `k` best slots of `scores[0..count)`, best first. `order[slot]` breaks ties;
 * `skip` (a slot, or -1) is left out, for "more like this" without the image itself.
 */
export function topK(scores: Float32Array, order: Float64Array, count: number, k: number, skip = -1): Ranked[] {
  if (k <= 0) return [];
  const heapSlots = new Int32Array(k);
  let size = 0;
  // The heap root is the worst of the kept k, so a new score is compared once with it.
  const below = (i: number, j: number): boolean => {
    const a = heapSlots[i]!;
    const b = heapSlots[j]!;
    return worse(scores[a]!, order[a]!, scores[b]!, order[b]!);
  };
  const swap = (i: number, j: number): void => {
    const t = heapSlots[i]!;
    heapSlots[i] = heapSlots[j]!;
    heapSlots[j] = t;
  };
  const siftDown = (start: number): void => {
    let i = start;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < size && below(l, m)) m = l;
      if (r < size && below(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let slot = 0; slot < count; slot++) {
    if (slot === skip) continue;
    if (size < k) {
      heapSlots[size] = slot;
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!below(i, parent)) break;
        swap(i, parent);
        i = parent;
      }
    } else {
      const root = heapSlots[0]!;
      if (worse(scores[root]!, order[root]!, scores[slot]!, order[slot]!)) {
        heapSlots[0] = slot;
        siftDown(0);
      }
    }
  }
  const kept: Ranked[] = [];
  for (let i = 0; i < size; i++) kept.push({ slot: heapSlots[i]!, score: scores[heapSlots[i]!]! });
  kept.sort((a, b) => b.score - a.score || order[a.slot]! - order[b.slot]!);
  return kept;
}
