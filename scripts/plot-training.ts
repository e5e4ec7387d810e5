/**
 * Draws the training curves of the shipped model from the logs in checkpoints/ into
 * docs/img/training-curves.png (SVG line charts rasterised by sharp; no plotting
 * library needed).
 *
 *   npx tsx scripts/plot-training.ts [--ckpt checkpoints] [--out docs/img/training-curves.png]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const { values } = parseArgs({ options: { ckpt: { type: 'string' }, out: { type: 'string' } }, strict: true });
const ckpt = values.ckpt ?? 'checkpoints';
const out = values.out ?? 'docs/img/training-curves.png';

function readCsv(file: string): Record<string, number>[] {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split(/\r?\n/);
  const names = header.split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((v, i) => [names[i], Number(v)])));
}

interface Series {
  label: string;
  colour: string;
  points: [number, number][];
}

const WIDTH = 420;
const HEIGHT = 300;
const PAD = { left: 56, right: 16, top: 36, bottom: 40 };

function chart(title: string, xLabel: string, allSeries: Series[], { logY = false } = {}): string {
  // Logs may hold blank cells (a metric not computed at that step): skip those points.
  const series = allSeries.map((s) => ({ ...s, points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y)) }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => !logY || y > 0);
  const [xMin, xMax] = [Math.min(...xs), Math.max(...xs)];
  const f = (y: number) => (logY ? Math.log10(y) : y);
  const [yMin, yMax] = [Math.min(...ys.map(f)), Math.max(...ys.map(f))];
  const px = (x: number) => PAD.left + ((x - xMin) / (xMax - xMin || 1)) * (WIDTH - PAD.left - PAD.right);
  const py = (y: number) => HEIGHT - PAD.bottom - ((f(y) - yMin) / (yMax - yMin || 1)) * (HEIGHT - PAD.top - PAD.bottom);
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => yMin + t * (yMax - yMin));
  const tickLabel = (v: number) => (logY ? (10 ** v).toExponential(0) : v.toFixed(v >= 10 ? 0 : 2));
  const paths = series
    .map((s) => {
      const d = s.points.filter((p) => !logY || p[1] > 0).map((p, i) => `${i === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
      return `<path d="${d}" fill="none" stroke="${s.colour}" stroke-width="2"/>`;
    })
    .join('');
  const legend = series
    .map((s, i) => `<rect x="${PAD.left + 8}" y="${PAD.top + 6 + i * 16}" width="10" height="10" fill="${s.colour}"/><text x="${PAD.left + 22}" y="${PAD.top + 15 + i * 16}" font-size="11">${s.label}</text>`)
    .join('');
  const grid = ticks
    .map((t) => {
      const y = HEIGHT - PAD.bottom - ((t - yMin) / (yMax - yMin || 1)) * (HEIGHT - PAD.top - PAD.bottom);
      return `<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y}" y2="${y}" stroke="#ddd"/><text x="${PAD.left - 6}" y="${y + 4}" font-size="10" text-anchor="end">${tickLabel(t)}</text>`;
    })
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="DejaVu Sans">
<rect width="100%" height="100%" fill="white"/>
<text x="${WIDTH / 2}" y="20" font-size="13" text-anchor="middle" font-weight="bold">${title}</text>
${grid}
<line x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${HEIGHT - PAD.bottom}" y2="${HEIGHT - PAD.bottom}" stroke="#333"/>
<text x="${PAD.left}" y="${HEIGHT - PAD.bottom + 14}" font-size="10">${xMin}</text>
<text x="${WIDTH - PAD.right}" y="${HEIGHT - PAD.bottom + 14}" font-size="10" text-anchor="end">${xMax}</text>
<text x="${WIDTH / 2}" y="${HEIGHT - 8}" font-size="11" text-anchor="middle">${xLabel}</text>
${paths}${legend}</svg>`;
}

const generator = readCsv(`${ckpt}/generator/log.csv`);
const vqvae = readCsv(`${ckpt}/vqvae/log.csv`);
const clip = readCsv(`${ckpt}/clip/log.csv`);
const charts = [
  chart('Generator: image-token cross-entropy', 'step', [
    { label: 'train', colour: '#1f77b4', points: generator.map((r) => [r.step, r.loss]) },
    { label: 'held-out', colour: '#d62728', points: generator.map((r) => [r.step, r.val_loss]) },
  ]),
  chart('VQ-VAE: reconstruction MSE (log)', 'step', [{ label: 'train batch', colour: '#2ca02c', points: vqvae.filter((r) => r.step > 1).map((r) => [r.step, r.recon]) }], { logY: true }),
  chart('CLIP: held-out accuracy', 'step', [
    { label: 'beats all hard negatives', colour: '#9467bd', points: clip.map((r) => [r.step, r.val_hard_acc]) },
    { label: 'text->image top-1 of 300', colour: '#ff7f0e', points: clip.map((r) => [r.step, r.val_retrieval]) },
  ]),
];
const panels = await Promise.all(charts.map((svg) => sharp(Buffer.from(svg)).png().toBuffer()));
await sharp({ create: { width: WIDTH * panels.length, height: HEIGHT, channels: 3, background: 'white' } })
  .composite(panels.map((input, i) => ({ input, left: i * WIDTH, top: 0 })))
  .png()
  .toFile(out);
console.log(`wrote ${out}`);
