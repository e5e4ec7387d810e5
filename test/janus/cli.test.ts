/** `tessera generate --model <a Janus package>`: the CLI face, CLIP reranking with --clip, the footprint. */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { TINY_JANUS } from '../helpers/janus.js';
import { tempDir } from '../helpers/tiny.js';
import sharp from 'sharp';
import { captureCliOutput } from '../helpers/cli-output.js';

const io = captureCliOutput();

const TINY_CLIP = path.resolve(import.meta.dirname, '../fixtures/tiny-clip');

describe('tessera generate on a Janus package', () => {
  it('generates, reranks with --clip and reports usage and footprint', async () => {
    const out = path.join(tempDir(), 'out');
    const code = await main(['generate', 'a red circle', '--model', TINY_JANUS, '--candidates', '3', '--keep', '2', '--seed', '3', '--clip', TINY_CLIP, '--out', out, '--json']);
    expect(io.stderr).toBe('');
    expect(code).toBe(0);
    const result = JSON.parse(io.stdout) as { images: { rank: number; score: number | null; file: string; tokens: number[] }[]; usage: { output_tokens: number }; footprint: { flops: { prefill: number; decode: number; vq_decode: number } }; settings: { guidanceScale: number } };
    expect(result.settings.guidanceScale).toBe(5); // the package's default: the reference's cfg_weight
    expect(result.images.map((i) => i.rank)).toEqual([1, 2]);
    expect(result.images.every((i) => typeof i.score === 'number')).toBe(true);
    expect(result.images[0]!.tokens).toHaveLength(64);
    expect(result.usage.output_tokens).toBe(3 * 64);
    expect(result.footprint.flops.decode).toBeGreaterThan(0);
    expect(result.footprint.flops.vq_decode).toBeGreaterThan(0);
    expect(readdirSync(out).filter((f) => f.endsWith('.png'))).toHaveLength(2);
  });
});

describe('the other faces on a Janus package', () => {
  it('tessera batch renders a prompt file through the same pipeline', async () => {
    const dir = tempDir();
    const prompts = path.join(dir, 'prompts.txt');
    writeFileSync(prompts, 'a red circle\ntwo blue stars\n');
    const out = path.join(dir, 'batch');
    const code = await main(['batch', prompts, '--out', out, '--model', TINY_JANUS, '--candidates', '2', '--keep', '1', '--seed', '5', '--quiet']);
    expect(code, io.stderr).toBe(0);
    expect(readdirSync(out).filter((f) => /^000[01]-.*-r1-c\d\.png$/.test(f))).toHaveLength(2);
  });

  it('image prompts need a VQ encoder, which the Janus files do not have: a coded error', async () => {
    const dir = tempDir();
    const picture = path.join(dir, 'in.png');
    await sharp({ create: { width: 32, height: 32, channels: 3, background: '#c00' } }).png().toFile(picture);
    const code = await main(['complete', picture, 'a red star', '--keep-rows', '2', '--model', TINY_JANUS, '--out', path.join(dir, 'o')]);
    expect(code).not.toBe(0);
    expect(io.stderr).toContain('TESSERA_ERR_NO_IMAGE_ENCODER');
  });
});
