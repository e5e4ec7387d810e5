// Check vae/encoder.onnx and vae/decoder.onnx with onnxruntime-node against the PyTorch
// reference tensors written by `export_vqvae.py --ref DIR`, and time the decoder.
//
//   node scripts/train/check-onnx.mjs --pkg <model package dir> --ref <ref dir> [--batch 32] [--iters 20]
//
// Exits non-zero when the graphs disagree with PyTorch (encoder codes agreement < 99%,
// decoder max abs error > 1e-4 on the reference codes).
import fs from "node:fs";
import path from "node:path";
import * as ort from "onnxruntime-node";

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : def;
}

// Minimal .npy reader (little-endian <f4 / <i8, C order).
function readNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.subarray(start, start + headerLen).toString("latin1");
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: fortran order`);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)[1].split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const data = buf.subarray(start + headerLen);
  const copy = new Uint8Array(data.length);
  copy.set(data);
  if (descr === "<f4") return { shape, data: new Float32Array(copy.buffer) };
  if (descr === "<i8") return { shape, data: new BigInt64Array(copy.buffer) };
  throw new Error(`${file}: unsupported dtype ${descr}`);
}

const pkg = arg("pkg");
const ref = arg("ref");
const batch = Number(arg("batch", "32"));
const iters = Number(arg("iters", "20"));
if (!pkg || !ref) {
  console.error("usage: node scripts/train/check-onnx.mjs --pkg DIR --ref DIR [--batch 32] [--iters 20]");
  process.exit(2);
}
const opts = { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" };
const enc = await ort.InferenceSession.create(path.join(pkg, "vae/encoder.onnx"), opts);
const dec = await ort.InferenceSession.create(path.join(pkg, "vae/decoder.onnx"), opts);

const images = readNpy(path.join(ref, "images.npy"));
const codes = readNpy(path.join(ref, "codes.npy"));
const recon = readNpy(path.join(ref, "recon.npy"));

let ok = true;
const encOut = await enc.run({ images: new ort.Tensor("float32", images.data, images.shape) });
const gotCodes = encOut.codes;
if (gotCodes.type !== "int64" || gotCodes.dims.join() !== codes.shape.join()) {
  console.error(`encoder output ${gotCodes.type} [${gotCodes.dims}] != int64 [${codes.shape}]`);
  ok = false;
}
let same = 0;
for (let i = 0; i < codes.data.length; i++) if (gotCodes.data[i] === codes.data[i]) same++;
const agreement = same / codes.data.length;

const decOut = await dec.run({ codes: new ort.Tensor("int64", codes.data, codes.shape) });
const gotImg = decOut.images;
if (gotImg.type !== "float32" || gotImg.dims.join() !== recon.shape.join()) {
  console.error(`decoder output ${gotImg.type} [${gotImg.dims}] != float32 [${recon.shape}]`);
  ok = false;
}
let maxErr = 0, lo = Infinity, hi = -Infinity;
for (let i = 0; i < recon.data.length; i++) {
  maxErr = Math.max(maxErr, Math.abs(gotImg.data[i] - recon.data[i]));
  lo = Math.min(lo, gotImg.data[i]);
  hi = Math.max(hi, gotImg.data[i]);
}
console.log(`encoder: code agreement ${(agreement * 100).toFixed(2)}% (${same}/${codes.data.length})`);
console.log(`decoder: max abs err ${maxErr.toExponential(2)}, output range [${lo.toFixed(3)}, ${hi.toFixed(3)}]`);
if (agreement < 0.99 || maxErr > 1e-4 || lo < 0 || hi > 1) ok = false;

// Decoder timing at the given batch (random codes within the codebook).
const meta = JSON.parse(fs.readFileSync(path.join(ref, "meta.json"), "utf8"));
const g = meta.grid;
const bench = new BigInt64Array(batch * g * g);
let s = 12345;
for (let i = 0; i < bench.length; i++) {
  s = (s * 1103515245 + 12345) >>> 0;
  bench[i] = BigInt(s % meta.codebook_size);
}
const feed = { codes: new ort.Tensor("int64", bench, [batch, g, g]) };
for (let i = 0; i < 3; i++) await dec.run(feed);
const times = [];
for (let i = 0; i < iters; i++) {
  const t0 = performance.now();
  await dec.run(feed);
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
console.log(`decoder timing: batch ${batch}, median ${median.toFixed(1)} ms/batch = ${(median / batch).toFixed(3)} ms/image (min ${(times[0] / batch).toFixed(3)})`);
const encFeed = { images: new ort.Tensor("float32", new Float32Array(batch * 3 * meta.image_size * meta.image_size).fill(0.5), [batch, 3, meta.image_size, meta.image_size]) };
await enc.run(encFeed);
const t1 = performance.now();
for (let i = 0; i < 5; i++) await enc.run(encFeed);
console.log(`encoder timing: ${((performance.now() - t1) / 5 / batch).toFixed(3)} ms/image`);
console.log(ok ? "CHECK OK" : "CHECK FAILED");
process.exit(ok ? 0 : 1);
