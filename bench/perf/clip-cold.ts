/**
 * The CLIP stage's first call in a fresh session, as a one-shot `tessera generate` meets it
 * (issue 27): onnxruntime's first-run settings (CLIP_SESSION) and the direct pixel path
 * (src/rerank/pixel-values.ts) against transformers.js's processor. Paired and alternating in
 * one process: each round loads the shipped CLIP once per setting (order alternating), times
 * its first scoreMany (wall and process CPU), checks the scores agree, disposes it.
 *
 *   node --import tsx bench/perf/clip-cold.ts [--rounds 6] [--candidates 32,128] [--vision onnx/vision_model.int8.onnx]
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { renderScene } from '../../eval/shapes/render.js';
import { COLOR_NAMES, SHAPES, type SizeName } from '../../eval/shapes/world.js';
import { ClipReranker, CLIP_SESSION, cosine, type ClipPreprocess, type ClipSessionSettings } from '../../src/rerank/clip-reranker.js';
import type { RgbImage } from '../../src/types.js';
import { cpuFlagsLine, machineLine, median } from './machine.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '6' },
    candidates: { type: 'string', default: '32,128' },
    vision: { type: 'string', default: 'onnx/vision_model.int8.onnx' },
  },
});
const CLIP = path.resolve('models/default/clip');
const PROMPT = 'a small red star left of a large blue circle';

interface Variant {
  name: string;
  session: ClipSessionSettings;
  preprocess: ClipPreprocess;
}
const ORT_DEFAULT = { enableMemPattern: true, enableCpuMemArena: true };
const VARIANTS: Variant[] = [
  { name: 'before: ort defaults + processor', session: ORT_DEFAULT, preprocess: 'processor' },
  { name: 'memPattern off + processor', session: { ...ORT_DEFAULT, enableMemPattern: false }, preprocess: 'processor' },
  { name: 'memPattern off + arena off + processor', session: { enableMemPattern: false, enableCpuMemArena: false }, preprocess: 'processor' },
  { name: 'ort defaults + direct pixels', session: ORT_DEFAULT, preprocess: 'auto' },
  { name: `after: CLIP_SESSION ${JSON.stringify(CLIP_SESSION)} + direct pixels`, session: CLIP_SESSION, preprocess: 'auto' },
];

async function images(n: number): Promise<RgbImage[]> {
  const out: RgbImage[] = [];
  for (let i = 0; i < n; i++) {
    const scene = { background: 'white' as const, objects: [{ shape: SHAPES[i % SHAPES.length], color: COLOR_NAMES[i % COLOR_NAMES.length], size: (i % 2 === 0 ? 'small' : 'large') as SizeName, x: 16 + (i % 5) * 8, y: 16 + (i % 3) * 12 }] };
    out.push({ width: 64, height: 64, data: await renderScene(scene) });
  }
  return out;
}

async function firstCall(variant: Variant, set: RgbImage[]): Promise<{ wallMs: number; cpuMs: number; scores: number[] }> {
  const clip = await ClipReranker.load(CLIP, 'cpu', { visionGraph: values.vision, session: variant.session });
  try {
    const cpu = process.cpuUsage();
    const started = performance.now();
    const texts = await clip.embedText([PROMPT]);
    const embedded = await clip.embedImages(set, variant.preprocess);
    const wallMs = performance.now() - started;
    const used = process.cpuUsage(cpu);
    return { wallMs, cpuMs: (used.user + used.system) / 1000, scores: embedded.map((e) => cosine(texts[0], e)) };
  } finally {
    await clip.dispose();
  }
}

console.log(machineLine());
console.log(cpuFlagsLine());
console.log(`CLIP ${CLIP}, vision ${values.vision}; first embedText + embedImages of a fresh session, alternating order, ${values.rounds} rounds`);
for (const n of values.candidates.split(',').map(Number)) {
  const set = await images(n);
  const wall = VARIANTS.map(() => [] as number[]);
  const cpu = VARIANTS.map(() => [] as number[]);
  let maxDiff = 0;
  let ranksEqual = true;
  for (let round = 0; round < Number(values.rounds); round++) {
    const order = VARIANTS.map((_, i) => i);
    if (round % 2 === 1) order.reverse();
    let reference: number[] | null = null;
    for (const i of order) {
      const { wallMs, cpuMs, scores } = await firstCall(VARIANTS[i], set);
      wall[i].push(wallMs);
      cpu[i].push(cpuMs);
      if (reference === null) reference = scores;
      else {
        for (let k = 0; k < scores.length; k++) maxDiff = Math.max(maxDiff, Math.abs(scores[k] - reference[k]));
        const rank = (s: number[]) => [...s.keys()].sort((a, b) => s[b] - s[a] || a - b).join(',');
        ranksEqual &&= rank(scores) === rank(reference);
      }
    }
  }
  console.log(`\n${n} images: median wall ms / CPU ms (range of CPU ms); scores across variants: max |diff| ${maxDiff.toExponential(2)}, ranks ${ranksEqual ? 'identical' : 'DIFFER'}`);
  VARIANTS.forEach((v, i) => console.log(`  ${v.name.padEnd(60)} ${median(wall[i]).toFixed(0).padStart(5)} / ${median(cpu[i]).toFixed(0).padStart(5)}  (${Math.min(...cpu[i]).toFixed(0)}–${Math.max(...cpu[i]).toFixed(0)})`));
}
console.log(`\n${machineLine()}`);
