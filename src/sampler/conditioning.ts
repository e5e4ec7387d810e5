/**
 * Conditioning beyond text: image codes fixed in advance at given image positions.
 * An image prompt's top rows (completion) are a prefix of forced codes; an edit forces
 * the codes outside its mask. A sequence's `forced` array holds one entry per image
 * position: a code in [0, imageVocab), or FREE where the code is sampled.
 *
 * The RNG rule (fixed here so that image-prompt features never break the seed
 * guarantee): every candidate draws exactly ONE uniform from its (seed, index) stream
 * per image position, in position order, whether that position is forced or sampled.
 * Forcing a position therefore never shifts the draws of the positions after it: a
 * candidate forced to the codes it would have sampled anyway samples exactly the same
 * grid as without forcing. Every sampler applies it through step.ts's drawToken.
 */
import { TesseraError } from '../errors.js';

/** The entry of `forced` at a position whose code is sampled. */
export const FREE = -1;

/** Forced codes for an image prefix: positions 0 .. prefix.length-1 take the prefix, the rest are sampled. */
export function forcedPrefix(prefix: ArrayLike<number>, imageTokens: number): Int32Array {
  if (prefix.length > imageTokens) {
    throw new TesseraError('TESSERA_ERR_OPTION', `an image prefix of ${prefix.length} codes does not fit a grid of ${imageTokens}`);
  }
  const forced = new Int32Array(imageTokens).fill(FREE);
  for (let j = 0; j < prefix.length; j++) forced[j] = prefix[j];
  return forced;
}

/** Forced codes for a masked edit: `resample[j]` true marks a position to sample; elsewhere `codes[j]` is kept. */
export function forcedOutsideMask(codes: ArrayLike<number>, resample: ArrayLike<boolean | number>): Int32Array {
  if (codes.length !== resample.length) {
    throw new TesseraError('TESSERA_ERR_OPTION', `mask covers ${resample.length} positions, the grid has ${codes.length}`);
  }
  return Int32Array.from({ length: codes.length }, (_, j) => (resample[j] ? FREE : codes[j]));
}

/** Throws unless `forced` is a grid of FREE or valid codes. */
export function checkForced(forced: Int32Array, imageTokens: number, imageVocab: number): void {
  if (forced.length !== imageTokens) {
    throw new TesseraError('TESSERA_ERR_INFERENCE', `forced codes cover ${forced.length} positions, the grid has ${imageTokens}`);
  }
  for (let j = 0; j < forced.length; j++) {
    const code = forced[j];
    if (code !== FREE && (code < 0 || code >= imageVocab || !Number.isInteger(code))) {
      throw new TesseraError('TESSERA_ERR_INFERENCE', `forced code ${code} at position ${j} is outside [0, ${imageVocab})`);
    }
  }
}
