/**
 * The top-k draw at the end of a processor chain that ends in topK (processAndSample,
 * logits-processors.ts): the k-th largest logit and the kept tokens found in about one pass
 * over a row, then the inverse-CDF draw over those k alone. Ties go to the lower index, as
 * everywhere in the chain (scripts/train/reference_sampler.py follows the same rules).
 */
import { fastExp } from './exp.js';

/**
 * The k-th largest of `values` (k >= 1), the value `Float64Array.from(values).sort()`
 * holds at index length - k. One pass with a min-heap of the k largest values seen so far
 * (its root is the k-th largest): a value enters only when it beats the root, which for
 * top-k 256 over DALL·E Mini's 16,384 codes happens ~k·ln(n/k) times, so the pass is mostly
 * one comparison per value. 130 against 240 µs per row (k = 256 of 16,384, loaded machine,
 * 2026-12-05) for the Hoare quickselect it replaced, which copied the row and partitioned
 * it (and which had replaced a sort: 2.1 ms). `scratch` (at least k long) is overwritten.
 * With `stride` > 1, of every stride-th value only (values[0], values[stride], ...: the
 * sample sampledFloor reads). Inputs without NaN only.
 */
export function kthLargest(values: Float64Array, k: number, scratch: Float64Array, stride = 1): number {
  const n = Math.ceil(values.length / stride);
  const heap = scratch; // heap[0 .. k): the k largest so far, heap[0] the smallest of them
  for (let i = 0; i < k; i++) heap[i] = values[i * stride];
  for (let i = (k >>> 1) - 1; i >= 0; i--) siftDown(heap, k, i, heap[i]);
  let root = heap[0];
  for (let i = k; i < n; i++) {
    const v = values[i * stride];
    if (v > root) {
      siftDown(heap, k, 0, v);
      root = heap[0];
    }
  }
  return root;
}

/** Puts `value` at `at` of the min-heap heap[0 .. size) and moves it down to its place. */
function siftDown(heap: Float64Array, size: number, at: number, value: number): void {
  let i = at;
  for (;;) {
    let child = 2 * i + 1;
    if (child >= size) break;
    if (child + 1 < size && heap[child + 1] < heap[child]) child++;
    if (!(heap[child] < value)) break;
    heap[i] = heap[child];
    i = child;
  }
  heap[i] = value;
}

let keptIndices = new Int32Array(0);

/** The stride of sampledFloor's sample: every 8th logit. */
const SAMPLE_STRIDE = 8;

/**
 * A value that is, with high probability, at most the k-th largest of `values`, from every
 * SAMPLE_STRIDE-th value alone: the sample's j-th largest, j its expected share of the k
 * (k / SAMPLE_STRIDE) plus three standard deviations and two. A row of DALL·E Mini's 16,384
 * codes at k = 256 then keeps ~400 values at or above it. -Infinity when the row is too
 * short for a sample to pay (the caller then takes the exact path alone). `scratch` (at
 * least j long) is overwritten.
 */
function sampledFloor(values: Float64Array, k: number, scratch: Float64Array): number {
  const n = values.length;
  const sampled = Math.ceil(n / SAMPLE_STRIDE);
  const share = (k * sampled) / n;
  const j = Math.ceil(share + 3 * Math.sqrt(share) + 2);
  if (n < 4 * k || j >= sampled) return -Infinity;
  return kthLargest(values, j, scratch, SAMPLE_STRIDE);
}

/**
 * topK(k) then sampleIndex, fused: the indices of the values at or above the threshold
 * (the k-th largest), in index order (ties at the threshold, lower indices first, up to k
 * in all, as topK keeps them), then max, weights, total and the inverse-CDF walk over those
 * k alone. Every sum runs in index order over the same non-zero terms as sampleIndex's walk
 * over the masked row (whose other terms are exactly 0), so the token is the same, bit for
 * bit. On DALL·E Mini's 16,384 codes at k = 256 the masked walk read each row six times.
 *
 * The threshold comes from a floor first (sampledFloor: a stride sample's estimate, below
 * the k-th largest): one pass collects the indices at or above it, and when at least k are,
 * every value at or above the k-th largest is among them, so kthLargest over those few gives
 * the exact threshold and the collected indices, filtered, are the kept ones. Otherwise
 * (a floor too high: rare, and always detected) the exact path: kthLargest over the whole
 * row, then a pass collecting. Same token either way.
 * `logits` is left as it was.
 */
export function sampleTopK(logits: Float64Array, k: number, u: number, scratch: Float64Array = new Float64Array(logits.length)): number {
  const n = logits.length;
  if (keptIndices.length < n) keptIndices = new Int32Array(n);
  const kept = keptIndices;
  if (k >= n) {
    // Every token kept: the walk below is sampleIndex's over the whole row.
    for (let i = 0; i < n; i++) kept[i] = i;
    return drawFrom(logits, kept, n, u, scratch);
  }
  const floor = sampledFloor(logits, k, scratch);
  let count = 0;
  let threshold = -Infinity;
  if (floor > -Infinity) {
    for (let i = 0; i < n; i++) if (logits[i] >= floor) kept[count++] = i;
    if (count >= k && count <= n - k) {
      const candidates = scratch.subarray(k); // [count]; the heap takes scratch[0 .. k)
      for (let j = 0; j < count; j++) candidates[j] = logits[kept[j]];
      threshold = kthLargest(candidates.subarray(0, count), k, scratch);
    }
  }
  if (threshold === -Infinity) {
    threshold = kthLargest(logits, k, scratch);
    count = 0;
    for (let i = 0; i < n; i++) if (logits[i] >= threshold) kept[count++] = i;
  }
  let above = 0;
  let w = 0;
  for (let j = 0; j < count; j++) {
    const v = logits[kept[j]];
    if (v >= threshold) {
      kept[w++] = kept[j];
      if (v > threshold) above++;
    }
  }
  count = w;
  if (count > k) {
    let ties = k - above; // more ties than places: the lower indices keep theirs
    w = 0;
    for (let j = 0; j < count; j++) {
      const i = kept[j];
      if (logits[i] > threshold) kept[w++] = i;
      else if (ties > 0) {
        ties--;
        kept[w++] = i;
      }
    }
    count = w;
  }
  return drawFrom(logits, kept, count, u, scratch);
}

/** The inverse-CDF draw over kept[0 .. count) (in index order): max, weights exp(l - max), total, walk; `scratch` holds the weights. */
function drawFrom(logits: Float64Array, kept: Int32Array, count: number, u: number, scratch: Float64Array): number {
  let max = -Infinity;
  for (let j = 0; j < count; j++) if (logits[kept[j]] > max) max = logits[kept[j]];
  const weights = scratch; // [count], in kept order (kthLargest's use of it is over)
  let total = 0;
  for (let j = 0; j < count; j++) {
    const l = logits[kept[j]];
    const w = l === -Infinity ? 0 : fastExp(l - max); // as softmaxWeights
    weights[j] = w;
    total += w;
  }
  const target = u * total;
  let cumulative = 0;
  let lastPositive = 0;
  for (let j = 0; j < count; j++) {
    const w = weights[j];
    if (w > 0) lastPositive = kept[j];
    cumulative += w;
    if (cumulative > target) return kept[j];
  }
  return lastPositive; // only reachable through rounding when u is within an ulp of 1
}
