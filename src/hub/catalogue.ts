/**
 * The models `tessera pull NAME` knows: where each one's files live on the Hugging Face Hub,
 * which files one variant needs, what turns them into something Tessera runs, and the
 * licence a user must accept first (if any). Adding a model is one entry here (and, for a
 * new post-download step, one case in src/hub/post.ts).
 */
import { TesseraError, allowed } from '../errors.js';
import { janusFiles, type JanusDtype, type JanusGraph } from '../model/janus-package.js';

/** Serves `--model` (a model package) or `--clip` (a CLIP folder in transformers.js's layout). */
export type PulledKind = 'package' | 'clip';

/** What turns the downloaded files into what the name resolves to. */
export type PostStep =
  /** The files are used as they are (a CLIP folder in transformers.js's layout). */
  | { readonly kind: 'none' }
  /** The repository holds a Tessera package: manifest.json and every file it lists (checked by its sha256). */
  | { readonly kind: 'package' }
  /** A Python converter writes a package from the files (scripts/convert/). */
  | {
      readonly kind: 'convert';
      /** Relative to the repository root. */
      readonly script: string;
      /** Python modules the converter imports (checked before it runs). */
      readonly modules: readonly string[];
      /** Peak resident memory of the conversion, measured (docs/min-dalle.md); refused below it. */
      readonly memoryBytes: number;
      /** Extra converter arguments from this environment variable (shrunk test weights: --heads 4 --norm-groups 8). */
      readonly extraArgsEnv?: string;
    }
  /** An onnx-community Janus folder: writeJanusManifest makes it a package (src/model/janus-package.ts). */
  | {
      readonly kind: 'janus';
      /** Per graph, which dtype's file runs (default fp32). */
      readonly dtypes?: Partial<Record<JanusGraph, JanusDtype>>;
      /** The language model file offered as the package's `int8` precision variant. */
      readonly int8?: JanusDtype;
      /** Longest prompt in tokens from this environment variable (default 128; the tiny test fixture's is 48). */
      readonly textLengthEnv?: string;
    };

export interface ModelLicense {
  /** SPDX id or the licence's own name; recorded with the acceptance. */
  readonly id: string;
  readonly url: string;
  /** One sentence: what accepting means. */
  readonly summary: string;
}

export interface KnownModel {
  /** What the user types: `tessera pull NAME`, `--model NAME`, `--clip NAME`. */
  readonly name: string;
  readonly description: string;
  readonly kind: PulledKind;
  /** owner/name on the Hub. */
  readonly repo: string;
  readonly revision: string;
  /** This variant's files in the repository (a repository may hold several variants, as min-dalle's does). */
  readonly files: readonly string[];
  readonly post: PostStep;
  /**
   * Each listed `.onnx` file's external data files too (`<file>_data`, `<file>_data_1`, …), found
   * by listing the repository (@huggingface/hub listFiles): how many there are is the exporter's choice.
   */
  readonly externalData?: boolean;
  /** When set, `tessera pull NAME --accept-license` is required once (the acceptance is recorded). */
  readonly license?: ModelLicense;
  /** Rough sizes for the docs and `tessera pull --help` (bytes): the download and what is installed. */
  readonly approxBytes: { readonly download: number; readonly installed: number };
}

const GB = 1e9;
const MIN_DALLE_CONVERT = {
  kind: 'convert',
  script: 'scripts/convert/min_dalle.py',
  modules: ['torch', 'onnx', 'numpy'],
  extraArgsEnv: 'TESSERA_MIN_DALLE_CONVERT_ARGS',
} as const;

const JANUS_LICENSE: ModelLicense = {
  id: 'DeepSeek License Agreement v1.0',
  url: 'https://github.com/deepseek-ai/DeepSeek-LLM/blob/HEAD/LICENSE-MODEL',
  summary:
    'The Janus-Pro weights (the code is MIT) may be used, redistributed and used commercially, provided that the use restrictions of its Attachment A are followed and passed on to anyone you give the weights or a derivative to.',
};
const JANUS_POST = { kind: 'janus', textLengthEnv: 'TESSERA_JANUS_TEXT_LENGTH' } as const;

/** One variant of onnx-community's Janus-Pro-1B export: which language-model file, the rest shared. */
function janusEntry(name: string, what: string, variant: { dtypes?: Partial<Record<JanusGraph, JanusDtype>>; int8?: JanusDtype }, bytes: number): KnownModel {
  return {
    name,
    description: `DeepSeek's Janus-Pro-1B (onnx-community's ONNX export): ${what}`,
    kind: 'package',
    repo: 'onnx-community/Janus-Pro-1B-ONNX',
    revision: 'main',
    files: janusFiles(variant.dtypes ?? {}, variant.int8),
    externalData: true,
    post: { ...JANUS_POST, ...variant },
    license: JANUS_LICENSE,
    approxBytes: { download: bytes, installed: bytes },
  };
}

/** The built-in table. Sizes and memory from docs/min-dalle.md (measured 2026-11-30). */
export const KNOWN_MODELS: readonly KnownModel[] = [
  {
    name: 'dalle-mini',
    description: "DALL·E Mini (min-dalle's PyTorch weights, converted here into a Tessera package)",
    kind: 'package',
    repo: 'kuprel/min-dalle',
    revision: 'main',
    files: ['encoder_mini.pt', 'decoder_mini.pt', 'detoker.pt', 'vocab_mini.json', 'merges_mini.txt'],
    post: { ...MIN_DALLE_CONVERT, memoryBytes: 6 * GB },
    approxBytes: { download: 1.0 * GB, installed: 1.9 * GB },
  },
  {
    name: 'dalle-mega',
    description: "DALL·E Mega (min-dalle's PyTorch weights, converted here into a Tessera package)",
    kind: 'package',
    repo: 'kuprel/min-dalle',
    revision: 'main',
    files: ['encoder.pt', 'decoder.pt', 'detoker.pt', 'vocab.json', 'merges.txt'],
    post: { ...MIN_DALLE_CONVERT, memoryBytes: 13 * GB },
    approxBytes: { download: 5.4 * GB, installed: 10.5 * GB },
  },
  {
    name: 'clip-vit-base-patch32',
    description: "OpenAI's CLIP ViT-B/32 in transformers.js's ONNX layout, for --clip",
    kind: 'clip',
    repo: 'Xenova/clip-vit-base-patch32',
    revision: 'main',
    files: ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/text_model.onnx', 'onnx/vision_model.onnx'],
    post: { kind: 'none' },
    approxBytes: { download: 0.61 * GB, installed: 0.61 * GB },
  },
  // fp32 graphs used ~6.6 GB, the q8 language model ~1.3 GB (docs/janus.md); not the real repository's figures.
  janusEntry('janus-pro-1b', "fp32 graphs, the language model's _quantized file as the int8 variant", { int8: 'q8' }, 7.9 * GB),
  janusEntry('janus-pro-1b-q4', "for machines short of memory: the language model's _q4 file, the other graphs fp32", { dtypes: { language_model: 'q4' } }, 2.5 * GB),
];

/** A Hub repository id (owner/name), as `tessera pull REPO_ID` takes it. */
export const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

/** The entry for `tessera pull owner/name`: a repository that already holds a Tessera package. */
export function packageRepo(repo: string, revision = 'main'): KnownModel {
  return {
    name: repo,
    description: `the Tessera package in ${repo}`,
    kind: 'package',
    repo,
    revision,
    files: ['manifest.json'], // the rest is read from the manifest's `files`
    post: { kind: 'package' },
    approxBytes: { download: 0, installed: 0 },
  };
}

/**
 * What `tessera pull NAME` pulls: a known name, else a repository id holding a Tessera
 * package; anything else is TESSERA_ERR_OPTION naming what is allowed.
 */
export function lookupModel(name: string, catalogue: readonly KnownModel[] = KNOWN_MODELS): KnownModel {
  const known = catalogue.find((m) => m.name === name);
  if (known !== undefined) return known;
  if (REPO_ID.test(name) && !name.includes('..')) return packageRepo(name);
  throw new TesseraError('TESSERA_ERR_OPTION', `unknown model ${JSON.stringify(name)}: pull one of ${allowed(catalogue.map((m) => m.name))}, or a Hugging Face repository id (owner/name) that holds a Tessera package`, { param: 'model' });
}

/** The folder name a pulled model is installed under (a repository id's slash is not a path). */
export function folderName(name: string): string {
  return name.replace('/', '--');
}
