import { TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';
import { ort } from '../model/runtime.js';
import type { RgbImage } from '../types.js';
import type { VqLanes } from './vq-lanes.js';

/**
 * The VQ image tokenizer (the dVAE / VQGAN): image-token grids to pixels through the
 * package's `decoder` graph (toPixels), and pixels back to grids through its `encoder`
 * graph (toCodes). The graphs speak planar float RGB in [0, 1]; Tessera speaks
 * interleaved 8-bit RGB, so the conversion lives here. (In the code "decoder" names the
 * decoder-only architecture and "decode" the sampling phase; this stage is `vq`:
 * docs/architecture.md, "Words".)
 */
export class VqCodec {
  /** The manifest's `decoder` graph: codes [B, h, w] -> images [B, 3, size, size]. */
  private readonly decoderGraph: ort.InferenceSession;
  /** The manifest's `encoder` graph, loaded on first use: only image-prompt features need it. */
  private readonly loadEncoder: (() => Promise<ort.InferenceSession>) | null;
  private encoderGraph: Promise<ort.InferenceSession> | null = null;
  private readonly height: number;
  private readonly width: number;
  private readonly size: number;
  /**
   * Grids per toPixels graph call: bounds the output buffer the runtime copies back and the
   * decoder's activations, which grow with the pixels decoded at once (DALL·E Mini's
   * VQGAN: ~95 MB more peak memory per 256-px image in one call, measured: 2.55 GB at 16
   * per call, 1.42 GB at 4, the same time per image). VQ_PIXELS_PER_CALL / size² grids.
   */
  readonly batchSize: number;
  /** Worker lanes that decode a request's grids at once (vq-lanes.ts), or null: this thread's session decodes them all. */
  private lanes: VqLanes | null = null;

  constructor(manifest: ModelManifest, decoderGraph: ort.InferenceSession, loadEncoder: (() => Promise<ort.InferenceSession>) | null, batchSize = vqBatchSize(manifest.image.size)) {
    this.decoderGraph = decoderGraph;
    this.loadEncoder = loadEncoder;
    this.height = manifest.image.grid.height;
    this.width = manifest.image.grid.width;
    this.size = manifest.image.size;
    this.batchSize = batchSize;
  }

  /** Decodes with `lanes` from now on, two grids or more at a time (a lane that fails is dropped and this thread decodes). */
  useLanes(lanes: VqLanes): void {
    this.lanes = lanes;
  }

  /** Whether grids go to worker lanes (vq-lanes.ts). */
  get inLanes(): boolean {
    return this.lanes !== null;
  }

  /** Stops the lanes' threads, if any. */
  async close(): Promise<void> {
    const lanes = this.lanes;
    this.lanes = null;
    await lanes?.close();
  }

  /** Grids (row-major codes) to images: in the lanes, else batchSize grids per graph call. */
  async toPixels(grids: readonly Int32Array[]): Promise<RgbImage[]> {
    if (this.lanes !== null && grids.length >= 2) {
      try {
        return await this.lanes.toPixels(grids);
      } catch {
        await this.close(); // a lane's thread failed (not the grids: this thread's decode below says what is wrong with them)
      }
    }
    const images: RgbImage[] = [];
    const cells = this.height * this.width;
    for (let start = 0; start < grids.length; start += this.batchSize) {
      const batch = grids.slice(start, start + this.batchSize);
      const codes = new BigInt64Array(batch.length * cells); // [B, h, w]
      batch.forEach((grid, b) => grid.forEach((code, i) => (codes[b * cells + i] = BigInt(code))));
      const planar = await this.decode(codes, batch.length); // [B, 3, size, size] in [0, 1]
      for (let b = 0; b < batch.length; b++) images.push(planarToRgb(planar, b, this.size));
    }
    return images;
  }

  private decode(codes: BigInt64Array, count: number): Promise<Float32Array> {
    return decodeCall(this.decoderGraph, codes, count, this.height, this.width);
  }

  /** Images of the model's size to grids of codes. */
  async toCodes(images: readonly RgbImage[]): Promise<Int32Array[]> {
    if (this.loadEncoder === null) throw new TesseraError('TESSERA_ERR_NO_IMAGE_ENCODER', 'this model package has no image encoder (pixels -> codes): completion, edits and variations need one');
    this.encoderGraph ??= this.loadEncoder();
    const encoder = await this.encoderGraph;
    const plane = this.size * this.size;
    const pixels = new Float32Array(images.length * 3 * plane); // [B, 3, size, size]
    images.forEach((image, b) => {
      for (let i = 0; i < plane; i++) {
        for (let c = 0; c < 3; c++) pixels[(b * 3 + c) * plane + i] = image.data[i * 3 + c] / 255;
      }
    });
    const out = await encoder.run({ images: new ort.Tensor('float32', pixels, [images.length, 3, this.size, this.size]) });
    const codes = out.codes.data as BigInt64Array; // [B, h, w]
    const cells = this.height * this.width;
    return images.map((_, b) => Int32Array.from(codes.subarray(b * cells, (b + 1) * cells), Number));
  }
}

/**
 * One decoder call. Tessera's graphs take `codes` [B, h, w] and give `images` in [0, 1];
 * Janus's `image_decode` (onnx-community) takes `generated_tokens` [B, h*w] and gives
 * `decoded_image` in [-1, 1], mapped to [0, 1] as transformers.js and Janus do ((x + 1) / 2).
 * (Also each VQ lane's: vq-lane-worker.ts.)
 */
export async function decodeCall(session: ort.InferenceSession, codes: BigInt64Array, count: number, height: number, width: number): Promise<Float32Array> {
  if (!session.inputNames.includes('generated_tokens')) {
    const out = await session.run({ codes: new ort.Tensor('int64', codes, [count, height, width]) });
    return out.images.data as Float32Array;
  }
  const out = await session.run({ generated_tokens: new ort.Tensor('int64', codes, [count, height * width]) });
  const planar = out.decoded_image.data as Float32Array; // [B, 3, size, size] in [-1, 1]
  for (let i = 0; i < planar.length; i++) planar[i] = (planar[i]! + 1) / 2;
  return planar;
}

/** Pixels made per toPixels graph call: 64 images of 64 px (the shipped model), 4 of 256 px (DALL·E Mini/Mega). */
export const VQ_PIXELS_PER_CALL = 64 * 64 * 64;

/**
 * The VQ graphs' sessions run without onnxruntime's memory pattern. With it, the first call
 * records the activations and the second allocates one planned block for them (1.2 GB at 4
 * Mini-sized images a call), so the first two calls of every one-shot run touch hundreds of
 * MB of fresh pages (on this project's VMs ~10 µs each: a Mini call took 2.2–3.1 s against
 * 1.3–1.8 s later). Without it the arena's chunks serve every call after the first. Mini's
 * int8 decoder, 32 images in a fresh session, 4 a call, paired (2026-12-05, loaded): 15.6 /
 * 15.7 → 13.0 / 13.1 s, peak RSS 1.19 → 0.67 GB; in whole one-shot runs the VQGAN stage
 * 12.2 → 10.8 s (docs/benchmarks.md, "Huge pages for malloc"). CLIP's tower made the same
 * choice (rerank/clip-reranker.ts).
 */
export const VQ_SESSION = { enableMemPattern: false } as const;

export function vqBatchSize(imageSize: number): number {
  return Math.max(1, Math.floor(VQ_PIXELS_PER_CALL / (imageSize * imageSize)));
}

/** Planar float [3, size, size] (batch item b) to interleaved 8-bit RGB. */
export function planarToRgb(planar: Float32Array, b: number, size: number): RgbImage {
  const plane = size * size;
  const data = new Uint8Array(plane * 3);
  const base = b * 3 * plane;
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = planar[base + c * plane + i];
      data[i * 3 + c] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    }
  }
  return { width: size, height: size, data };
}
