/**
 * `tessera pull janus-pro-1b` against a loopback Hub serving the tiny Janus fixture in
 * onnx-community's layout (no manifest.json; the language model with its weights in an
 * external `_data` file, found by listing the repository), then `tessera generate --model
 * janus-pro-1b` samples the fixture's reference tokens. Refused without --accept-license.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { KNOWN_MODELS } from '../../src/hub/catalogue.js';
import { pull } from '../../src/hub/pull.js';
import { TINY_JANUS, TINY_JANUS_REFERENCE } from '../helpers/janus.js';
import { folderFiles, startHubServer, type HubServer } from '../helpers/hub-server.js';
import { tempDir } from '../helpers/tiny.js';
import { captureCliOutput } from '../helpers/cli-output.js';
import { saveEnv } from '../helpers/env.js';

const REPO = 'onnx-community/Janus-Pro-1B-ONNX';
const PYTHON = '/usr/bin/python3';
const hasOnnx = spawnSync(PYTHON, ['-c', 'import onnx'], { encoding: 'utf8' }).status === 0;
const ENV = ['HF_ENDPOINT', 'HF_HOME', 'HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'TESSERA_MODELS_DIR', 'TESSERA_CACHE_DIR', 'TESSERA_JANUS_TEXT_LENGTH'];
let restoreEnv: () => void = () => {};
const shipped = JSON.parse(readFileSync(path.join(TINY_JANUS, 'manifest.json'), 'utf8')) as { text: { length: number } };
const reference = JSON.parse(readFileSync(TINY_JANUS_REFERENCE, 'utf8')) as { cases: { name: string; prompt: string; seed: number; indices: number[]; guidanceScale: number; temperature: number; topK: number; topP: number; codes: number[][] }[] };
let hub: HubServer;
let files: Record<string, Buffer>;
const io = captureCliOutput();

/** The fixture as onnx-community publishes it: no manifest; the language model's weights in `language_model.onnx_data` where Python's onnx can write it. */
function onnxCommunityLayout(): Record<string, Buffer> {
  const out = folderFiles(TINY_JANUS);
  delete out['manifest.json'];
  const dir = tempDir();
  const script = `import onnx,sys\nm=onnx.load(sys.argv[1])\nonnx.save_model(m, sys.argv[2]+'/language_model.onnx', save_as_external_data=True, all_tensors_to_one_file=True, location='language_model.onnx_data', size_threshold=0)`;
  const made = spawnSync(PYTHON, ['-c', script, path.join(TINY_JANUS, 'onnx/language_model.onnx'), dir], { encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 120_000 });
  if (made.status === 0) {
    out['onnx/language_model.onnx'] = readFileSync(path.join(dir, 'language_model.onnx'));
    out['onnx/language_model.onnx_data'] = readFileSync(path.join(dir, 'language_model.onnx_data'));
  }
  return out;
}

beforeAll(async () => {
  files = onnxCommunityLayout();
  const { ['onnx/gen_head.onnx']: _gone, ...withoutHead } = files;
  hub = await startHubServer({ [REPO]: { files }, 'acme/janus-moved': { files: withoutHead } });
  const home = tempDir();
  restoreEnv = saveEnv(ENV);
  // The fixture's prompts are 48 tokens long (the real model's default is 128).
  Object.assign(process.env, { HF_ENDPOINT: hub.url, HF_HOME: path.join(home, 'hf'), TESSERA_MODELS_DIR: path.join(home, 'models'), TESSERA_CACHE_DIR: path.join(home, 'cache'), TESSERA_JANUS_TEXT_LENGTH: String(shipped.text.length) });
  for (const name of ['HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE']) delete process.env[name];
}, 180_000);
afterAll(async () => {
  restoreEnv();
  await hub.close();
});

describe('tessera pull janus-pro-1b', () => {
  it('asks for the DeepSeek licence first and downloads nothing without --accept-license', async () => {
    expect(await main(['pull', 'janus-pro-1b', '--quiet'])).not.toBe(0);
    expect(io.stderr).toMatch(/^tessera: error \[TESSERA_ERR_LICENSE\]: janus-pro-1b is under the DeepSeek License Agreement v1\.0 licence .*redistributed and used commercially.*Attachment A.*--accept-license\n$/);
    expect(hub.sent.size).toBe(0);
  });

  it('pulls the fp32 graphs (and the _quantized language model as the int8 variant), writes the manifest, and generate --model janus-pro-1b samples the fixture tokens', { timeout: 300_000 }, async () => {
    expect(await main(['pull', 'janus-pro-1b', '--accept-license', '--quiet']), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/^pulled janus-pro-1b into .*models\/janus-pro-1b/);
    const dir = path.join(process.env.TESSERA_MODELS_DIR!, 'janus-pro-1b');
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { name: string; architecture: string; files: Record<string, string>; variants?: { int8?: { generator: { step: string } } } };
    expect(manifest).toMatchObject({ name: 'janus-pro-1b', architecture: 'janus' });
    expect(manifest.variants?.int8?.generator.step).toBe('onnx/language_model_quantized.onnx');
    // Only what the variant needs: no lm_head, no q4 file; the external data file found by the listing.
    const sent = [...hub.sent.keys()].map((k) => k.slice(REPO.length + 1)).sort();
    const expected = [...KNOWN_MODELS.find((m) => m.name === 'janus-pro-1b')!.files, ...('onnx/language_model.onnx_data' in files ? ['onnx/language_model.onnx_data'] : [])].sort();
    expect('onnx/language_model.onnx_data' in files).toBe(hasOnnx);
    expect(sent).toEqual(expected);
    expect(Object.keys(manifest.files).sort()).toEqual(expected);
    expect(existsSync(path.join(dir, 'onnx/lm_head.onnx'))).toBe(false);

    for (const name of ['greedy', 'guided']) {
      const c = reference.cases.find((x) => x.name === name)!;
      io.stdout = '';
      const args = ['generate', c.prompt, '--model', 'janus-pro-1b', '--seed', String(c.seed), '--candidates', String(c.indices.length), '--keep', String(c.indices.length), '--guidance', String(c.guidanceScale), '--temperature', String(c.temperature), '--top-k', String(c.topK), '--top-p', String(c.topP), '--precision', 'fp32', '--json', '--out', path.join(tempDir(), 'out')];
      expect(await main(args), io.stderr).toBe(0);
      const result = JSON.parse(io.stdout) as { model: string; images: { tokens: number[]; index?: number; candidate?: number }[] };
      expect(result.model).toBe('janus-pro-1b');
      const got = result.images.map((i) => i.tokens).sort();
      expect(got, name).toEqual([...c.codes].sort());
    }
  });
});

it('names a variant file the repository does not hold in one line, before downloading anything', async () => {
  const entry = { ...KNOWN_MODELS.find((m) => m.name === 'janus-pro-1b')!, repo: 'acme/janus-moved', license: undefined };
  const home = tempDir();
  const settings = { endpoint: hub.url, token: undefined, offline: false, hubCache: path.join(home, 'hf'), modelsDir: path.join(home, 'models') };
  hub.sent.clear();
  const error = await pull('janus-pro-1b', { settings, catalogue: [entry] }).then(() => undefined, (e: { code?: string; message: string }) => e);
  expect(error?.code).toBe('TESSERA_ERR_PULL_NOT_FOUND');
  expect(error?.message).toMatch(/^janus-pro-1b: acme\/janus-moved at main on http:\S+ has no onnx\/gen_head\.onnx \(its \.onnx files: .*onnx\/language_model\.onnx/);
  expect(hub.sent.size).toBe(0);
});
