/**
 * Same-process, interleaved A/B of two checkouts' samplers (used for the architecture
 * refactor: e9de962, before the generator seam, against the seam). Both load the shipped
 * model, then alternate generate() runs of the same sequences and compare process CPU time.
 * On a noisy shared machine, interleaving within one process is the fairest comparison.
 *
 *   git worktree add /tmp/base e9de962 && ln -s $PWD/node_modules /tmp/base/node_modules
 *   BASE=/tmp/base npx tsx bench/refactor-ab.bench.mts 32 6
 */
import path from 'node:path';

const base = process.env.BASE;
if (base === undefined) throw new Error('set BASE to the other checkout (see the comment at the top)');
const { Tessera: TesseraBase } = await import(path.join(base, 'src/pipeline/tessera.ts'));
const { Tessera: TesseraNew } = await import(path.resolve('src/pipeline/tessera.ts'));

const prompt = 'a small red star left of a large blue circle on a white background';
const candidates = Number(process.argv[2] ?? 32);
const rounds = Number(process.argv[3] ?? 6);
const before = await TesseraBase.load({ model: path.resolve('models/default'), rerank: false });
const next = await TesseraNew.load({ model: path.resolve('models/default'), rerank: false });
const seqBase = before.prepare({ prompt, seed: 5, candidates }).sequences;
const seqNew = next.prepare({ prompt, seed: 5, candidates }).sequences;
await before.model.sampler.generate(seqBase.slice(0, 2));
await next.model.sampler.generate(seqNew.slice(0, 2));
const times: Record<string, number[]> = { base: [], next: [] };
let identical = true;
for (let r = 0; r < rounds; r++) {
  for (const [name, t, seq] of [['base', before, seqBase], ['next', next, seqNew]] as const) {
    const cpu = process.cpuUsage();
    const codes = await (t.model.sampler as { generate: (s: unknown) => Promise<Int32Array[]> }).generate(seq);
    const used = process.cpuUsage(cpu);
    times[name].push((used.user + used.system) / 1000);
    if (name === 'next') identical &&= codes.length === candidates;
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(JSON.stringify({ candidates, rounds, cpuMsBase: times.base.map(Math.round), cpuMsNew: times.next.map(Math.round), medianBase: median(times.base), medianNew: median(times.next), ratioNewOverBase: median(times.next) / median(times.base) }));
