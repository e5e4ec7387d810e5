/**
 * Property-based fuzzing of `tessera batch` prompt files: generated JSONL and text files
 * mixing good lines, bad lines of every kind (malformed JSON, wrong types, out-of-range
 * overrides, unknown keys, NUL and other control characters, lone surrogates, empty
 * prompts) and blank or comment lines. Every bad line is reported with its line number,
 * every good line is written (a record and a manifest line), and nothing else is.
 * Parsing and validation run thousands of times without the model; full runs with the
 * tiny model (one loaded pipeline, one candidate per prompt) run a few dozen files.
 */
import fc from 'fast-check';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePrompts } from '../../src/batch/prompts.js';
import { runBatch } from '../../src/batch/runner.js';
import { readManifest } from '../../src/model/manifest.js';
import { Tessera } from '../../src/pipeline/tessera.js';
import { resolveRequest } from '../../src/pipeline/settings.js';
import { TINY_MODEL } from '../server/helpers.js';
import { announce, FUZZ_SEED, runs } from './settings.js';

type Line = { text: string; kind: 'good' | 'bad' | 'ignored' };

const words = fc.constantFrom('a', 'red', 'blue', 'circle', 'square', 'star', 'two', 'large', 'small', 'on', 'white', 'background', 'zebra', '😀', 'éclair');
const goodPrompt = fc.array(words, { minLength: 1, maxLength: 6 }).map((w) => w.join(' '));
const poison = fc.constantFrom('\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\uD800', '\uDC00', '\uFFFE');
const badPrompt = fc.tuple(goodPrompt, poison, fc.nat(20)).map(([p, c, at]) => p.slice(0, at) + c + p.slice(at));
// A lone surrogate cannot be written to a UTF-8 file (it becomes U+FFFD, a legitimate character):
// text files get the other poisons; JSONL carries surrogates as \uXXXX escapes.
const textPoison = fc.constantFrom('\u0000', '\u0001', '\u001b', '\u007f', '\u0085', '\uFFFE');
const badTextPrompt = fc.tuple(goodPrompt, textPoison, fc.nat(20)).map(([p, c, at]) => p.slice(0, at) + c + p.slice(at));

/** A JSONL line and whether it is valid (the generator knows, independently of the parser). */
const jsonlLine: fc.Arbitrary<Line> = fc.oneof(
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt }), kind: 'good' as const })),
  fc.record({ prompt: goodPrompt, seed: fc.nat(1000), candidates: fc.integer({ min: 1, max: 2 }), keep: fc.constant(1) }).map((o) => ({ text: JSON.stringify(o), kind: 'good' as const })),
  fc.record({ prompt: goodPrompt, negative_prompt: goodPrompt, guidance: fc.constantFrom(1, 1.5, 2) }).map((o) => ({ text: JSON.stringify(o), kind: 'good' as const })),
  badPrompt.map((prompt) => ({ text: JSON.stringify({ prompt }), kind: 'bad' as const })),
  fc.tuple(goodPrompt, badPrompt).map(([prompt, negative_prompt]) => ({ text: JSON.stringify({ prompt, negative_prompt, guidance: 2 }), kind: 'bad' as const })),
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt, candidates: 0 }), kind: 'bad' as const })),
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt, top_p: 0 }), kind: 'bad' as const })),
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt, seed: -1 }), kind: 'bad' as const })),
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt, keep: 'one' }), kind: 'bad' as const })),
  goodPrompt.map((prompt) => ({ text: JSON.stringify({ prompt, colour: 'red' }), kind: 'bad' as const })),
  fc.constantFrom('{', 'not json', '[1,2]', '"a red circle"', '42', 'null', '{"prompt": 3}', '{"prompt": ""}', '{"prompt": "   "}', '{}').map((text) => ({ text, kind: 'bad' as const })),
  fc.constantFrom('', '   ', '\t').map((text) => ({ text, kind: 'ignored' as const })),
);

/** A text-file line: a prompt, a prompt with a forbidden character, or a blank/comment line. */
const textLine: fc.Arbitrary<Line> = fc.oneof(
  goodPrompt.map((text) => ({ text, kind: 'good' as const })),
  badTextPrompt.filter((p) => p.trim() !== '' && !p.trimStart().startsWith('#')).map((text) => ({ text, kind: 'bad' as const })),
  fc.constantFrom('', '  ', '# a comment', '  # indented comment').map((text) => ({ text, kind: 'ignored' as const })),
);

const file = fc.oneof(
  fc.record({ format: fc.constant('jsonl' as const), lines: fc.array(jsonlLine, { minLength: 1, maxLength: 8 }), crlf: fc.boolean() }),
  fc.record({ format: fc.constant('text' as const), lines: fc.array(textLine, { minLength: 1, maxLength: 8 }), crlf: fc.boolean() }),
);

function lineNumbers(lines: Line[], kind: Line['kind']): number[] {
  return lines.flatMap((l, i) => (l.kind === kind ? [i + 1] : []));
}

const manifest = readManifest(TINY_MODEL);

describe('fuzzing prompt files', () => {
  it('parse + resolve: exactly the bad lines are refused, each with its number', () => {
    announce('batch prompt files (parse)');
    fc.assert(
      fc.property(file, ({ format, lines, crlf }) => {
        const parsed = parsePrompts(lines.map((l) => l.text).join(crlf ? '\r\n' : '\n') + '\n', format);
        const refused = new Set(parsed.problems.map((p) => p.line));
        for (const entry of parsed.entries) {
          try {
            resolveRequest({ prompt: entry.prompt, ...entry.overrides, seed: entry.overrides.seed ?? 1 }, manifest);
          } catch {
            refused.add(entry.line);
          }
        }
        expect([...refused].sort((a, b) => a - b)).toEqual(lineNumbers(lines, 'bad'));
        expect(parsed.entries.map((e) => e.line).filter((l) => !refused.has(l))).toEqual(lineNumbers(lines, 'good'));
      }),
      { seed: FUZZ_SEED, numRuns: runs(1500, 0.15) },
    );
  }, 300_000);

  describe('full runs with the tiny model', () => {
    let tessera: Tessera;
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'tessera-fuzz-batch-'));
    beforeAll(async () => {
      tessera = await Tessera.load({ model: TINY_MODEL, rerank: false });
    });
    afterAll(async () => {
      await tessera?.dispose();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('every bad line is reported with its number, every good line is written', async () => {
      announce('batch prompt files (runs)');
      let run = 0;
      await fc.assert(
        fc.asyncProperty(file, async ({ format, lines, crlf }) => {
          run += 1;
          const dir = path.join(scratch, String(run));
          const prompts = path.join(scratch, `${run}.${format === 'jsonl' ? 'jsonl' : 'txt'}`);
          writeFileSync(prompts, lines.map((l) => l.text).join(crlf ? '\r\n' : '\n') + '\n');
          const good = lineNumbers(lines, 'good');
          const bad = lineNumbers(lines, 'bad');
          let summary;
          try {
            summary = await runBatch({ prompts, out: dir, tessera, model: TINY_MODEL, candidates: 1, keep: 1, seed: 3, grid: false, rerank: false });
          } catch (error) {
            // Only a file with no good line at all may fail as a whole, and then with the input-file code.
            expect(good).toEqual([]);
            expect((error as { code?: string }).code).toBe('TESSERA_ERR_INPUT_FILE');
            return;
          }
          expect(summary.invalid.map((p) => p.line)).toEqual(bad);
          expect(summary.generated).toBe(good.length);
          const manifestLines = readFileSync(path.join(dir, 'manifest.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
          expect(manifestLines).toHaveLength(good.length);
          expect(existsSync(path.join(dir, '.tessera-batch.lock'))).toBe(false);
        }),
        { seed: FUZZ_SEED, numRuns: runs(25, 0.01), endOnFailure: true },
      );
    }, Math.max(120_000, runs(25, 0.01) * 3000));
  });
});
