/**
 * Turns a folder holding onnx-community's Janus files (config.json, tokenizer.json, the
 * processor configs, onnx/<graph><suffix>.onnx) into a Tessera package: writes its
 * manifest.json (src/model/janus-package.ts, docs/janus.md).
 *
 *   npx tsx scripts/janus/make-package.ts models/janus-pro-1b [--dtype q4] [--language-model-dtype q4] [--int8 q8] [--text-length 128]
 *
 * --dtype sets every graph's file; --language-model-dtype only the language model's (the
 * one that dominates time and memory); --int8 offers a second language model as the
 * package's int8 variant (`--precision int8`, or `auto` measures both on this machine).
 * Prints the files the choice needs.
 */
import { parseArgs } from 'node:util';
import { JANUS_GRAPHS, janusFiles, writeJanusManifest, type JanusDtype, type JanusGraph } from '../../src/model/janus-package.js';

const { values, positionals } = parseArgs({
  options: { dtype: { type: 'string' }, 'language-model-dtype': { type: 'string' }, int8: { type: 'string' }, 'text-length': { type: 'string' } },
  allowPositionals: true,
  strict: true,
});
const dir = positionals[0];
if (dir === undefined) {
  console.error('usage: make-package.ts DIR [--dtype DTYPE] [--language-model-dtype DTYPE] [--text-length N]');
  process.exit(2);
}
const dtypes: Partial<Record<JanusGraph, JanusDtype>> = {};
for (const graph of JANUS_GRAPHS) if (values.dtype !== undefined) dtypes[graph] = values.dtype as JanusDtype;
if (values['language-model-dtype'] !== undefined) dtypes.language_model = values['language-model-dtype'] as JanusDtype;
const int8 = values.int8 as JanusDtype | undefined;
console.log(`files needed:\n  ${janusFiles(dtypes, int8).join('\n  ')}`);
const manifest = await writeJanusManifest(dir, { dtypes, int8, textLength: values['text-length'] === undefined ? undefined : Number(values['text-length']) });
console.log(`wrote ${dir}/manifest.json: ${manifest.name}, ${manifest.generator.layers} layers, ${manifest.image.grid.height}x${manifest.image.grid.width} codes`);
