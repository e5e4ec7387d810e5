import { readFileSync } from 'node:fs';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import { TesseraError } from '../errors.js';
import type { ModelManifest } from '../model/manifest.js';

export interface EncodedPrompt {
  /** Exactly text.length ids, right-padded with padId. */
  ids: number[];
  /** Words mapped to the unknown token, in prompt order, without duplicates. */
  unknownWords: string[];
  /** True when the prompt had more tokens than text.length and was cut. */
  truncated: boolean;
  /** Token count before padding or truncation. */
  tokenCount: number;
}

/**
 * The generator's text tokenizer: the package's Hugging Face tokenizer.json through
 * transformers.js, then Tessera's own fixed-length padding. Padding lives here, not in
 * the tokenizer file, because the text length is a property of the generator.
 */
export class TextTokenizer {
  private readonly tokenizer: PreTrainedTokenizer;
  private readonly length: number;
  private readonly padId: number;
  private readonly unknownId: number;
  /** The model's prompt format (manifest text.template), `{prompt}` standing for the prompt. */
  private readonly template: string | undefined;
  private readonly unconditional: NonNullable<ModelManifest['text']['unconditional']>;
  private readonly unconditionalIds: readonly number[];

  constructor(tokenizerJson: object, manifest: ModelManifest) {
    this.tokenizer = new PreTrainedTokenizer(tokenizerJson, {});
    this.length = manifest.text.length;
    this.padId = manifest.text.padId;
    this.unknownId = manifest.text.unknownId;
    this.template = manifest.text.template;
    this.unconditional = manifest.text.unconditional ?? 'ids';
    this.unconditionalIds = manifest.text.unconditionalIds;
  }

  static fromFile(file: string, manifest: ModelManifest): TextTokenizer {
    let json: object;
    try {
      json = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot read tokenizer ${file}: ${(error as Error).message}`, { cause: error });
    }
    return new TextTokenizer(json, manifest);
  }

  private idsOf(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false });
  }

  encode(prompt: string): EncodedPrompt {
    // The tokenizer file's post-processor decides the special tokens: none for the shapes
    // model, `<s> ... </s>` for min-dalle's BART tokenizer (a cut prompt loses its `</s>`, as there).
    const formatted = this.template === undefined ? prompt : this.template.replace('{prompt}', () => prompt);
    let raw = this.tokenizer.encode(formatted, { add_special_tokens: true });
    const unknownWords: string[] = [];
    if (raw.includes(this.unknownId)) {
      // Whole-word vocabulary: a word is unknown exactly when it encodes to the unknown id.
      for (const word of prompt.split(/\s+/)) {
        const cleaned = word.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
        if (cleaned !== '' && this.idsOf(cleaned).includes(this.unknownId) && !unknownWords.includes(cleaned)) {
          unknownWords.push(cleaned);
        }
      }
    }
    const truncated = raw.length > this.length;
    const tokenCount = raw.length;
    if (truncated && this.template !== undefined) {
      // A cut prompt keeps the format's tail (Janus's ends with <begin_of_image>, where image tokens start): the prompt's own tokens go.
      const tail = this.idsOf(this.template.slice(this.template.indexOf('{prompt}') + '{prompt}'.length));
      raw = [...raw.slice(0, Math.max(0, this.length - tail.length)), ...tail].slice(-this.length);
    }
    const ids = raw.slice(0, this.length);
    while (ids.length < this.length) ids.push(this.padId);
    return { ids, unknownWords, truncated, tokenCount };
  }

  /**
   * The unconditional row guidance pairs with `text`: the manifest's unconditionalIds, or
   * (text.unconditional 'keep-ends', Janus) the text's own first and last ids with padId
   * between them, as deepseek-ai/Janus generation_inference.py builds it: the same length
   * as the prompt, so both rows reach image position 0 at the same stream position.
   */
  unconditionalFor(text: EncodedPrompt): readonly number[] {
    if (this.unconditional === 'ids') return this.unconditionalIds;
    const ids = [...text.ids];
    const used = Math.min(text.tokenCount, this.length);
    ids.fill(this.padId, 1, Math.max(1, used - 1));
    return ids;
  }
}
