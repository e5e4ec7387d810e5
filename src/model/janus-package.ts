/**
 * A Tessera manifest for a Janus folder in onnx-community's layout (the files of
 * `onnx-community/Janus-Pro-1B-ONNX`: config.json, tokenizer.json, processor and
 * preprocessor configs, `onnx/<graph><suffix>.onnx`), so a downloaded repository runs as a
 * package (docs/janus.md). The figures come from the folder's own configs and the special
 * tokens' ids from its tokenizer.json, by their text.
 *
 * Graph file names follow transformers.js's dtype suffixes (utils/dtypes.js). Tessera feeds
 * float32 tensors (embeddings, cache, hidden states), so only the dtypes whose graphs take
 * and give float32 can run: fp32, q8 (`_quantized`), int8, uint8, q4, bnb4; the fp16 ones
 * (`_fp16`, `_q4f16`) take float16 and are refused.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { TesseraError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { parseManifest, type ModelManifest } from './manifest.js';
import { sha256OfFile } from './verified-files.js';

/** transformers.js's DEFAULT_DTYPE_SUFFIX_MAPPING (utils/dtypes.js). */
export const JANUS_DTYPE_SUFFIX = { fp32: '', fp16: '_fp16', q8: '_quantized', int8: '_int8', uint8: '_uint8', q4: '_q4', q4f16: '_q4f16', bnb4: '_bnb4' } as const;
export type JanusDtype = keyof typeof JANUS_DTYPE_SUFFIX;
/** The dtypes whose graphs keep float32 inputs and outputs. */
export const JANUS_FLOAT32_DTYPES: readonly JanusDtype[] = ['fp32', 'q8', 'int8', 'uint8', 'q4', 'bnb4'];

/** The graphs text-to-image runs (lm_head, the text head, is not needed). */
export const JANUS_GRAPHS = ['prepare_inputs_embeds', 'language_model', 'gen_head', 'gen_img_embeds', 'image_decode'] as const;
export type JanusGraph = (typeof JANUS_GRAPHS)[number];

/** The special tokens the prompt format and the unconditional row use (deepseek-ai/Janus processing_vlm.py). */
export const JANUS_TOKENS = { bos: '<｜begin▁of▁sentence｜>', pad: '<｜▁pad▁｜>', eos: '<｜end▁of▁sentence｜>', imageStart: '<begin_of_image>' } as const;
/** generation_inference.py's prompt: the sft format with an empty system prompt, then image_start_tag. */
export const JANUS_TEMPLATE = '<|User|>: {prompt}\n\n<|Assistant|>:<begin_of_image>';

export interface JanusPackageOptions {
  /** Per graph, which dtype's file runs (default fp32 for all). */
  dtypes?: Partial<Record<JanusGraph, JanusDtype>>;
  /**
   * A second language model file offered as the package's `int8` precision variant
   * (docs/model-package.md, "Precision variants"; `--precision int8|auto`): e.g. q8 or q4.
   */
  int8?: JanusDtype;
  /** Longest prompt in tokens, template included (default 128). */
  textLength?: number;
  name?: string;
}

/** A graph's file in the folder: `onnx/<graph><suffix>.onnx`. */
export function janusGraphFile(graph: JanusGraph, dtype: JanusDtype): string {
  return `onnx/${graph}${JANUS_DTYPE_SUFFIX[dtype]}.onnx`;
}

/** Every file a choice of dtypes needs (configs, tokenizer, graphs); a graph's external data files are found beside it on disk. */
export function janusFiles(dtypes: Partial<Record<JanusGraph, JanusDtype>> = {}, int8?: JanusDtype): string[] {
  for (const [graph, dtype] of [...Object.entries(dtypes), ...(int8 === undefined ? [] : [['language_model (int8 variant)', int8] as const])]) {
    if (!JANUS_FLOAT32_DTYPES.includes(dtype)) {
      throw new TesseraError('TESSERA_ERR_OPTION', `Janus ${graph} at ${dtype} takes float16 tensors; Tessera runs ${JANUS_FLOAT32_DTYPES.join(', ')}`, { param: 'precision' });
    }
  }
  const graphs = JANUS_GRAPHS.map((g) => janusGraphFile(g, dtypes[g] ?? 'fp32'));
  const variant = int8 === undefined ? [] : [janusGraphFile('language_model', int8)];
  return ['config.json', 'preprocessor_config.json', 'processor_config.json', 'tokenizer.json', ...new Set([...graphs, ...variant])];
}

function readJson(dir: string, file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `Janus folder ${dir}: cannot read ${file} (${(error as Error).message})`, { cause: error });
  }
}

function figure(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `Janus config: ${where} must be a positive integer, got ${JSON.stringify(value)}`);
  return value;
}

/** Builds (and validates) the manifest of a Janus folder; `writeJanusManifest` also hashes and writes it. */
export function janusManifest(dir: string, files: Record<string, string>, options: JanusPackageOptions = {}): ModelManifest {
  const config = readJson(dir, 'config.json');
  const language = (config.language_config ?? {}) as Record<string, unknown>;
  const genHead = ((config.gen_head_config ?? {}) as { params?: Record<string, unknown> }).params ?? {};
  const hidden = figure(language.hidden_size, 'language_config.hidden_size');
  const heads = figure(language.num_attention_heads, 'language_config.num_attention_heads');
  const imageTokens = figure(readJson(dir, 'processor_config.json').num_image_tokens, 'processor_config.num_image_tokens');
  const side = Math.round(Math.sqrt(imageTokens));
  if (side * side !== imageTokens) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `Janus config: ${imageTokens} image tokens are not a square grid`);
  const tokenizer = readJson(dir, 'tokenizer.json') as { added_tokens?: { id: number; content: string }[] };
  const idOf = (content: string): number => {
    const token = tokenizer.added_tokens?.find((t) => t.content === content);
    if (token === undefined) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `Janus tokenizer.json has no ${content} token`);
    return token.id;
  };
  const T = options.textLength ?? 128;
  const [bos, pad, eos, imageStart] = [idOf(JANUS_TOKENS.bos), idOf(JANUS_TOKENS.pad), idOf(JANUS_TOKENS.eos), idOf(JANUS_TOKENS.imageStart)];
  const graph = (g: JanusGraph) => janusGraphFile(g, options.dtypes?.[g] ?? 'fp32');
  return parseManifest({
    format: 'tessera-model',
    formatVersion: 1,
    name: options.name ?? path.basename(path.resolve(dir)),
    description: `Janus (DeepSeek) from onnx-community's ONNX export; graphs: ${JANUS_GRAPHS.map(graph).join(', ')}`,
    architecture: 'janus',
    // Byte-level BPE knows every byte: the end-of-sentence id never appears in a prompt, so no word is "unknown".
    text: { length: T, vocabSize: figure(language.vocab_size, 'language_config.vocab_size'), tokenizer: 'tokenizer.json', padId: pad, unknownId: eos,
      unconditionalIds: [bos, ...Array<number>(T - 2).fill(pad), imageStart], template: JANUS_TEMPLATE, unconditional: 'keep-ends' },
    image: { size: figure(readJson(dir, 'preprocessor_config.json').image_size, 'preprocessor_config.image_size'), grid: { height: side, width: side },
      vocabSize: figure(genHead.image_token_size, 'gen_head_config.params.image_token_size') },
    generator: { layers: figure(language.num_hidden_layers, 'language_config.num_hidden_layers'), heads, headDim: hidden / heads, maxLength: T + imageTokens,
      prefill: graph('language_model'), step: graph('language_model'), cache: { keys: 'plain', slots: 'filled' } },
    janus: { prepareInputsEmbeds: graph('prepare_inputs_embeds'), genImgEmbeds: graph('gen_img_embeds'), genHead: graph('gen_head'), hiddenSize: hidden, imageStartId: imageStart },
    decoder: graph('image_decode'),
    encoder: null,
    clip: null,
    // The reference's cfg_weight 5 and temperature 1; previews every quarter (the VQ decoder is costly).
    sampling: { candidates: 4, keep: 2, temperature: 1, topK: 0, topP: 1, guidanceScale: 5, previewEvery: Math.max(1, Math.floor(imageTokens / 4)) },
    files,
    ...(options.int8 === undefined ? {} : { variants: { int8: { generator: { prefill: janusGraphFile('language_model', options.int8), step: janusGraphFile('language_model', options.int8) } } } }),
  });
}

/** Hashes the files `options.dtypes` needs (and each graph's external data beside it), then writes `<dir>/manifest.json`. */
export async function writeJanusManifest(dir: string, options: JanusPackageOptions = {}): Promise<ModelManifest> {
  const needed = janusFiles(options.dtypes, options.int8);
  const onnxDir = path.join(dir, 'onnx');
  const external = existsSync(onnxDir) ? readdirSync(onnxDir).filter((f) => needed.some((n) => n.endsWith('.onnx') && f.startsWith(`${path.basename(n)}_data`))).map((f) => `onnx/${f}`) : [];
  const files: Record<string, string> = {};
  for (const file of [...needed, ...external].sort()) {
    if (!existsSync(path.join(dir, file))) throw new TesseraError('TESSERA_ERR_MODEL_FILE', `Janus folder ${dir}: ${file} is missing`, { param: 'model' });
    files[file] = await sha256OfFile(path.join(dir, file));
  }
  const manifest = janusManifest(dir, files, options);
  await writeFileAtomic(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}
