import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readReference } from '../../scripts/convert/min-dalle-check.js';
import { main } from '../../src/cli/main.js';
import { folderFiles, refusedUrl, startHubServer, type HubServer } from '../helpers/hub-server.js';
import { ROOT, tempDir } from '../helpers/tiny.js';
import { captureCliOutput } from '../helpers/cli-output.js';
import { saveEnv } from '../helpers/env.js';

// The whole path a user with a network takes, against a loopback Hub (HF_ENDPOINT):
// `tessera pull dalle-mini` downloads min-dalle's files and converts them, then
// `tessera generate --model dalle-mini` samples min-dalle's own greedy tokens
// (test/fixtures/min-dalle/reference.json). The weights are min-dalle-format random weights
// from scripts/convert/make_tiny_min_dalle.py (seeded: the fixture's own weights), served
// under min-dalle's Mini file names. Converting needs Python with PyTorch.
const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' }).status === 0;
const ref = readReference(path.join(ROOT, 'test/fixtures/min-dalle'));

const io = captureCliOutput();
let hub: HubServer;
let home: string;
let restoreEnv: () => void = () => {};
const ENV = ['HF_ENDPOINT', 'HF_HOME', 'HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'TESSERA_MODELS_DIR', 'TESSERA_CACHE_DIR', 'TESSERA_MIN_DALLE_CONVERT_ARGS', 'TESSERA_PYTHON'];

beforeAll(async () => {
  const weights = tempDir();
  if (hasTorch) {
    const made = spawnSync(PYTHON, ['make_tiny_min_dalle.py', '--out', weights], { cwd: path.join(ROOT, 'scripts/convert'), encoding: 'utf8', env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, timeout: 120_000 });
    expect(made.status, made.stderr).toBe(0);
  }
  const tiny = hasTorch ? folderFiles(weights) : {};
  hub = await startHubServer({
    'kuprel/min-dalle': {
      files: hasTorch ? { 'encoder_mini.pt': tiny['encoder.pt'], 'decoder_mini.pt': tiny['decoder.pt'], 'detoker.pt': tiny['detoker.pt'], 'vocab_mini.json': tiny['vocab.json'], 'merges_mini.txt': tiny['merges.txt'] } : {},
    },
    'Xenova/clip-vit-base-patch32': { files: folderFiles(path.join(ROOT, 'test/fixtures/tiny-clip')) },
  });
  home = tempDir();
  restoreEnv = saveEnv(ENV);
  Object.assign(process.env, {
    HF_ENDPOINT: hub.url,
    HF_HOME: path.join(home, 'hf'),
    TESSERA_MODELS_DIR: path.join(home, 'models'),
    TESSERA_CACHE_DIR: path.join(home, 'cache'),
    // The tiny weights are neither Mini's nor Mega's shape: the converter is told their heads and groups.
    TESSERA_MIN_DALLE_CONVERT_ARGS: '--heads 4 --norm-groups 8 --external-data',
  });
  for (const name of ['HF_HUB_CACHE', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'TESSERA_PYTHON']) delete process.env[name];
}, 180_000);

afterAll(async () => {
  restoreEnv();
  await hub.close();
});


const run = (...args: string[]) => main(args);

describe('tessera pull, then the name on every command', () => {
  it('says which name is not pulled yet, on every command that takes --model or --clip, and downloads nothing', async () => {
    const image = path.join(ROOT, 'test/fixtures/golden/generate-circle-7/a-red-circle-7-2.png');
    const prompts = path.join(tempDir(), 'prompts.txt');
    writeFileSync(prompts, 'a cat\n');
    const commands = [
      ['generate', 'a cat', '--model', 'dalle-mini'],
      ['generate', 'a cat', '--clip', 'clip-vit-base-patch32'],
      ['complete', image, 'a cat', '--keep-rows', '4', '--model', 'dalle-mini'],
      ['vary', image, '--model', 'dalle-mini'],
      ['batch', prompts, '--out', path.join(tempDir(), 'out'), '--model', 'dalle-mini'],
      ['search', tempDir(), '--query', 'a cat', '--model', 'dalle-mini'],
      ['serve', '--port', '0', '--model', 'default', '--model', 'dalle-mini'],
      ['worker', '--queue', 'redis://127.0.0.1:1', '--model', 'dalle-mini'],
    ];
    for (const argv of commands) {
      io.stderr = '';
      expect(await run(...argv), argv.join(' ')).toBe(1);
      expect(io.stderr, argv.join(' ')).toMatch(/^tessera: error \[TESSERA_ERR_MODEL_NOT_PULLED\]: --(model dalle-mini|clip clip-vit-base-patch32): not pulled yet .*tessera pull/);
    }
    expect(hub.sent.size).toBe(0);
  });

  it.runIf(hasTorch)("pulls and converts DALL·E Mini's files, then generate --model dalle-mini samples min-dalle's tokens", { timeout: 300_000 }, async () => {
    expect(await run('pull', 'dalle-mini', '--quiet'), io.stderr).toBe(0);
    expect(io.stdout).toMatch(/^pulled dalle-mini into .*models\/dalle-mini \(fetched [\d.]+ MB\); use it with --model dalle-mini\n$/);
    expect(io.stderr).toBe('');
    io.stdout = '';
    io.stderr = '';
    // Without --quiet too, no progress bars when stderr is not a terminal (as here).
    expect(await run('pull', 'clip-vit-base-patch32')).toBe(0);
    expect(io.stderr).toBe('');
    const [greedy] = ref.greedy.cases;
    io.stdout = '';
    const out = path.join(tempDir(), 'out');
    const code = await run('generate', greedy.prompt, '--model', 'dalle-mini', '--clip', 'clip-vit-base-patch32', '--top-k', '1', '--guidance', String(ref.greedy.settings.supercondition_factor), '--candidates', '2', '--keep', '1', '--precision', 'fp32', '--json', '--out', out);
    expect(code, io.stderr).toBe(0);
    const summary = JSON.parse(io.stdout);
    expect(summary.model).toBe('dalle-mini');
    expect(summary.images[0].tokens).toEqual(greedy.tokens);
    // Ranked by the pulled CLIP: a score, not index order.
    expect(typeof summary.images[0].score).toBe('number');

    io.stdout = '';
    expect(await run('models')).toBe(0);
    expect(io.stdout).toMatch(/^dalle-mini\s+package\s+[\d.]+ MB\s+[\d.]+ MB\s+\S+models\/dalle-mini$/m);
    expect(io.stdout).toMatch(/^clip-vit-base-patch32\s+clip\s+[\d.]+ [kM]B\s+[\d.]+ [kM]B\s+\S+models\/clip-vit-base-patch32$/m);
    io.stdout = '';
    expect(await run('models', '--json')).toBe(0);
    expect(JSON.parse(io.stdout).models.map((m: { name: string }) => m.name)).toEqual(['clip-vit-base-patch32', 'dalle-mini']);

    // Pulled again: nothing fetched. Removed: the name stops resolving.
    hub.sent.clear();
    io.stdout = '';
    expect(await run('pull', 'dalle-mini')).toBe(0);
    expect(io.stdout).toMatch(/dalle-mini is already pulled/);
    expect(hub.sent.size).toBe(0);
    io.stdout = '';
    expect(await run('models', 'rm', 'dalle-mini')).toBe(0);
    expect(io.stdout).toMatch(/^removed dalle-mini \([\d.]+ MB freed\)\n$/);
    io.stderr = '';
    expect(await run('generate', 'a cat', '--model', 'dalle-mini')).toBe(1);
    expect(io.stderr).toMatch(/\[TESSERA_ERR_MODEL_NOT_PULLED\]/);
    // The CLIP is still there.
    io.stdout = '';
    await run('models', '--json');
    expect(JSON.parse(io.stdout).models.map((m: { name: string }) => m.name)).toEqual(['clip-vit-base-patch32']);
  });

  it('prints one line with a catalogue code when nothing answers, and for an unknown name', async () => {
    const nowhere = await refusedUrl();
    process.env.HF_ENDPOINT = nowhere;
    try {
      expect(await run('pull', 'acme/some-package', '--quiet')).toBe(1);
      expect(io.stderr).toBe(`tessera: error [TESSERA_ERR_PULL_NETWORK]: acme/some-package/manifest.json: cannot reach ${nowhere} (ECONNREFUSED); check the network, or HF_ENDPOINT\n`);
    } finally {
      process.env.HF_ENDPOINT = hub.url;
    }
    io.stderr = '';
    expect(await run('pull', 'no-such-model')).toBe(2);
    expect(io.stderr).toMatch(/^tessera: error \[TESSERA_ERR_OPTION\]: unknown model "no-such-model": pull one of "dalle-mini", "dalle-mega", "clip-vit-base-patch32"/);
    io.stdout = '';
    expect(await run('pull', '--help')).toBe(0);
    expect(io.stdout).toMatch(/dalle-mega .*13\.00 GB of memory to convert/);
    expect(readFileSync(path.join(ROOT, 'README.md'), 'utf8')).toMatch(/tessera pull dalle-mini/);
  });
});
