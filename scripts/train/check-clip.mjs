// Check an exported Tessera CLIP folder (transformers.js layout) against the PyTorch
// reference values that export_clip.py saved in <dir>/reference.json, and time it.
//
//   node scripts/train/check-clip.mjs <clip dir> [--tol 1e-4] [--bench 32]
//
// This is also the reference for how the reranker calls transformers.js (see `loadClip`
// and `embed*` below): text padded to the batch's longest caption, attention_mask passed,
// images as RawImage(RGB bytes, 64, 64, 3), scores = cosine of text_embeds / image_embeds.
import fs from 'node:fs';
import path from 'node:path';
import {
  env, AutoTokenizer, AutoProcessor, CLIPTextModelWithProjection, CLIPVisionModelWithProjection, RawImage,
} from '@huggingface/transformers';

export async function loadClip(dir) {
  const abs = path.resolve(dir);
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = path.dirname(abs) + path.sep;
  const id = path.basename(abs);
  const opts = { dtype: 'fp32', device: 'cpu', session_options: { intraOpNumThreads: 2, interOpNumThreads: 1 } };
  const [tokenizer, processor, textModel, visionModel] = await Promise.all([
    AutoTokenizer.from_pretrained(id),
    AutoProcessor.from_pretrained(id),
    CLIPTextModelWithProjection.from_pretrained(id, opts),
    CLIPVisionModelWithProjection.from_pretrained(id, opts),
  ]);
  return { tokenizer, processor, textModel, visionModel };
}

// texts: string[] -> Float32Array rows [n][E]
export async function embedTexts(clip, texts, maxLength = 16) {
  const inputs = clip.tokenizer(texts, { padding: true, truncation: true, max_length: maxLength });
  const { text_embeds } = await clip.textModel(inputs);
  return rows(text_embeds);
}

// images: RawImage[] (64x64 RGB) -> Float32Array rows [n][E]
export async function embedImages(clip, images) {
  const { pixel_values } = await clip.processor(images);
  const { image_embeds } = await clip.visionModel({ pixel_values });
  return rows(image_embeds);
}

export function cosine(a, b) {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

function rows(t) {
  const [n, e] = t.dims;
  const out = [];
  for (let i = 0; i < n; i++) out.push(t.data.slice(i * e, (i + 1) * e));
  return out;
}

function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

async function main() {
  const args = process.argv.slice(2);
  const dir = args.find((x) => !x.startsWith('--'));
  if (!dir) { console.error('usage: node scripts/train/check-clip.mjs <clip dir> [--tol 1e-4] [--bench 32]'); process.exit(2); }
  const opt = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : dflt; };
  const tol = opt('--tol', 1e-4);
  const benchN = opt('--bench', 32);
  const ref = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8'));
  const clip = await loadClip(dir);
  let worst = 0;
  let failed = false;

  // tokenizer ids match the Python side (unknown words -> [UNK] = 1)
  for (const c of ref.captions) {
    const ids = Array.from(clip.tokenizer(c.text).input_ids.data, Number);
    if (JSON.stringify(ids) !== JSON.stringify(c.input_ids)) {
      console.error(`token ids differ for "${c.text}": js ${JSON.stringify(ids)} python ${JSON.stringify(c.input_ids)}`);
      failed = true;
    }
  }
  // all captions in ONE padded batch: checks the attention mask as well
  const te = await embedTexts(clip, ref.captions.map((c) => c.text));
  ref.captions.forEach((c, i) => { worst = Math.max(worst, maxDiff(te[i], c.text_embeds)); });
  const images = ref.images.map((im) => new RawImage(new Uint8ClampedArray(Buffer.from(im.rgb_base64, 'base64')), im.width, im.height, 3));
  const ie = await embedImages(clip, images);
  ref.images.forEach((im, i) => { worst = Math.max(worst, maxDiff(ie[i], im.image_embeds)); });
  console.log(`max |onnx - pytorch| = ${worst.toExponential(2)} over ${ref.captions.length} captions and ${ref.images.length} images (tol ${tol})`);
  if (!(worst <= tol)) failed = true;

  // similarity table (captions x images)
  for (let i = 0; i < te.length; i++) {
    console.log(`  ${ie.map((v) => cosine(te[i], v).toFixed(3)).join(' ')}  ${ref.captions[i].text}`);
  }

  if (benchN > 0) {
    const batch = Array.from({ length: benchN }, (_, i) => images[i % images.length]);
    const texts = Array.from({ length: benchN }, (_, i) => ref.captions[i % ref.captions.length].text);
    await embedImages(clip, batch); await embedTexts(clip, texts);
    const reps = 5;
    let t0 = performance.now();
    for (let r = 0; r < reps; r++) await embedImages(clip, batch);
    const tImg = (performance.now() - t0) / reps;
    t0 = performance.now();
    for (let r = 0; r < reps; r++) await embedTexts(clip, [texts[0]]);
    const tTxt1 = (performance.now() - t0) / reps;
    t0 = performance.now();
    for (let r = 0; r < reps; r++) await embedTexts(clip, texts);
    const tTxt = (performance.now() - t0) / reps;
    console.log(`time (cpu, 2 threads): vision ${tImg.toFixed(1)} ms per ${benchN} images (incl. preprocessing); text ${tTxt1.toFixed(1)} ms for 1 prompt, ${tTxt.toFixed(1)} ms for ${benchN}`);
  }
  if (failed) { console.error('check-clip: FAILED'); process.exit(1); }
  console.log('check-clip: OK');
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('check-clip.mjs')) {
  main().catch((e) => { console.error(e); process.exit(1); });
}
