import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { generationFlops, modelCost } from '../../src/footprint/flops.js';
import { parseManifest } from '../../src/model/manifest.js';
import { ROOT } from '../helpers/tiny.js';

// The tiny min-dalle package (scripts/convert/min_dalle.py, external data): FLOPs counted from
// its graphs against a count written from min-dalle's layer shapes alone (min_dalle_spec.py).
const PACKAGE = path.join(ROOT, 'test/fixtures/min-dalle/package');
const manifest = parseManifest(JSON.parse(readFileSync(path.join(PACKAGE, 'manifest.json'), 'utf8')));
const cost = modelCost(PACKAGE, manifest);

const E = 16; // embed width
const L = 2; // layers (encoder and decoder)
const G = 40; // GLU width
const T = 64; // text length
const S = 256; // image tokens = decoder slots
const HEAD_ROWS = 16384 + 1; // lm_head rows: the image vocabulary + dalle-mini's BOS row

function independent(candidates: number, guided: boolean) {
  const attention = 4 * E * E; // q, k, v, out projections
  const glu = 3 * E * G; // fc0, fc1 (gated), fc2
  const textRows = guided ? 2 : 1;
  const encoderRow = T * L * (attention + glu) + L * 2 * T * T * E; // + q·kᵀ and p·v over T×T
  const crossRow = T * L * 2 * E * E; // cross keys and values of every text state
  // The run at decoder position j (0: the start token) attends over the slots laid out:
  // with the package's generator.cache slots "filled", slots 0..j rounded up to a
  // multiple of 16 (at least 16, at most S), docs/model-package.md.
  const filled = manifest.generator.cache?.slots === 'filled';
  const rows = candidates * (guided ? 2 : 1);
  let decode = 0;
  for (let j = 0; j < S; j++) {
    const slots = filled ? Math.min(S, Math.max(16, 16 * Math.ceil((j + 1) / 16))) : S;
    decode += 2 * rows * (L * (attention + 2 * E * E + glu) + L * (2 * (slots + 1) * E + 2 * T * E) + E * HEAD_ROWS);
  }
  return { prefill: 2 * textRows * (encoderRow + crossRow), decode };
}

/** min-dalle's VQGAN decoder (widths 8, 16, 32; latent 16): every conv at its resolution, 16 -> 256. */
function independentVqgan(): number {
  const [c0, c1, c2] = [8, 16, 32];
  const z = 16;
  const conv = (cout: number, cin: number, k: number, side: number) => cout * cin * k * k * side * side;
  const resnet = (cin: number, cout: number, side: number) => conv(cout, cin, 3, side) + conv(cout, cout, 3, side) + (cin === cout ? 0 : conv(cout, cin, 1, side));
  const attn = (c: number, side: number) => 4 * conv(c, c, 1, side);
  let macs = conv(z, z, 1, 16) + conv(c2, z, 3, 16) + resnet(c2, c2, 16) + attn(c2, 16) + resnet(c2, c2, 16);
  // Levels from the lowest resolution: (in, out, attention, upsample), as VQGAN_LEVELS reversed.
  const levels: [number, number, boolean, boolean][] = [[c2, c2, true, true], [c2, c1, false, true], [c1, c1, false, true], [c1, c0, false, true], [c0, c0, false, false]];
  let side = 16;
  for (const [cin, cout, attention, upsample] of levels) {
    for (let j = 0; j < 3; j++) {
      macs += resnet(j === 0 ? cin : cout, cout, side);
      if (attention) macs += attn(cout, side);
    }
    if (upsample) {
      side *= 2;
      macs += conv(cout, cout, 3, side);
    }
  }
  return macs + conv(3, c0, 3, side);
}

describe('FLOPs of an encoder-decoder package (DALL·E Mini/Mega layout)', () => {
  it('match a count from the layer shapes: text encoder + cross keys/values, 256 steps, VQGAN', () => {
    for (const [candidates, guided] of [[3, true], [2, false]] as const) {
      const flops = generationFlops(cost, { candidates, guidance: guided, rerank: false });
      const want = independent(candidates, guided);
      expect(flops.prefill).toBe(want.prefill);
      expect(flops.decode).toBe(want.decode);
      expect(flops.vqDecode).toBe(2 * candidates * independentVqgan());
      expect(flops.clipText + flops.clipVision).toBe(0); // the package has no CLIP
    }
  });
});
