/**
 * Checks a re-exported step graph (scripts/train/reexport_step.py) against the graph it
 * replaces: the same random cache, fed to the old graph in its layout (keys transposed,
 * all slots) and to the new one with plain keys, once with all slots and once with only
 * the slots any row has filled. Prints the largest difference of each output and fails
 * above 1e-4.
 *
 *   node --import tsx scripts/train/check-step-reexport.ts OLD_PACKAGE NEW_PACKAGE
 */
import path from 'node:path';
import { readManifest } from '../../src/model/manifest.js';
import { ort } from '../../src/model/runtime.js';

const [oldDir, newDir] = process.argv.slice(2);
if (!oldDir || !newDir) throw new Error('usage: check-step-reexport.ts OLD_PACKAGE NEW_PACKAGE');
const manifest = readManifest(newDir);
const { layers, heads, headDim, maxLength: slots } = manifest.generator;
const textLength = manifest.text.length;
const rows = 5;
const open = (dir: string) => ort.InferenceSession.create(path.join(dir, readManifest(dir).generator.step));
const [oldGraph, newGraph] = await Promise.all([open(oldDir), open(newDir)]);

let seed = 12345;
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
const filled = Array.from({ length: rows }, (_, r) => textLength + ((r * 7) % (slots - textLength))); // past slots per row
const keys = Array.from({ length: layers }, () => Float32Array.from({ length: rows * heads * slots * headDim }, random)); // [R, H, S, D]
const values = Array.from({ length: layers }, () => Float32Array.from({ length: rows * heads * slots * headDim }, random));
const ids = BigInt64Array.from({ length: rows }, (_, r) => BigInt(manifest.text.vocabSize + r * 3));

function feeds(capacity: number, transposedKeys: boolean): Record<string, ort.Tensor> {
  const mask = new Float32Array(rows * capacity); // [R, C]
  filled.forEach((n, r) => mask.fill(1, r * capacity, r * capacity + n));
  const out: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', ids, [rows, 1]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(filled, BigInt), [rows, 1]),
    attention_mask: new ort.Tensor('float32', mask, [rows, capacity]),
  };
  for (let l = 0; l < layers; l++) {
    const k = new Float32Array(rows * heads * capacity * headDim);
    const v = new Float32Array(rows * heads * capacity * headDim);
    for (let rh = 0; rh < rows * heads; rh++) {
      for (let s = 0; s < capacity; s++) {
        for (let d = 0; d < headDim; d++) {
          const from = (rh * slots + s) * headDim + d;
          k[transposedKeys ? (rh * headDim + d) * capacity + s : (rh * capacity + s) * headDim + d] = keys[l][from];
          v[(rh * capacity + s) * headDim + d] = values[l][from];
        }
      }
    }
    out[`past_key_${l}`] = new ort.Tensor('float32', k, transposedKeys ? [rows, heads, headDim, capacity] : [rows, heads, capacity, headDim]);
    out[`past_value_${l}`] = new ort.Tensor('float32', v, [rows, heads, capacity, headDim]);
  }
  return out;
}

const maxDiff = (a: ort.Tensor, b: ort.Tensor) => {
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  if (x.length !== y.length) throw new Error(`length ${x.length} vs ${y.length}`);
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i])), 0);
};

const reference = await oldGraph.run(feeds(slots, true));
let worst = 0;
for (const capacity of [slots, Math.max(...filled)]) {
  const out = await newGraph.run(feeds(capacity, false));
  const diffs = ['logits', 'new_keys', 'new_values'].map((name) => maxDiff(reference[name], out[name]));
  console.log(`${capacity} slots: max |diff| logits ${diffs[0].toExponential(2)}, new_keys ${diffs[1].toExponential(2)}, new_values ${diffs[2].toExponential(2)}`);
  worst = Math.max(worst, ...diffs);
}
if (worst > 1e-4) {
  console.error(`FAIL: ${worst} > 1e-4`);
  process.exit(1);
}
console.log('ok');
