/**
 * Issue 23: the CLI's image prompts share the server's allowlist (PNG, JPEG, WebP, sniffed
 * from the bytes): `tessera vary x.svg` exits 1 with TESSERA_ERR_INPUT_FORMAT, whatever
 * the file is called, before the model loads.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/main.js';
import { hostileSvg, refusedImages } from '../helpers/hostile.js';
import { tempDir, TINY_MODEL } from '../helpers/tiny.js';

let stderr = '';
beforeEach(() => {
  stderr = '';
  vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((stderr += String(chunk)), true));
});
afterEach(() => vi.restoreAllMocks());

describe('tessera vary | edit with a refused format', () => {
  it('exits 1 with TESSERA_ERR_INPUT_FORMAT naming the format, for SVG (even named .png) and GIF', async () => {
    const dir = tempDir();
    const svg = path.join(dir, 'innocent.png');
    writeFileSync(svg, hostileSvg());
    const gif = path.join(dir, 'picture.gif');
    writeFileSync(gif, (await refusedImages()).find((r) => r.name === 'GIF')!.data);
    for (const [file, name] of [[svg, 'SVG'], [gif, 'GIF']]) {
      stderr = '';
      expect(await main(['vary', file, '--model', TINY_MODEL, '--out', path.join(dir, 'out')])).toBe(1);
      expect(stderr).toContain('[TESSERA_ERR_INPUT_FORMAT]');
      expect(stderr).toContain(name);
    }
  });
});
