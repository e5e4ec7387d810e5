/**
 * `tessera pull NAME` and `tessera models [rm NAME]`: models from the Hugging Face Hub into
 * the cache, and what the cache holds (src/hub/, docs/pull.md).
 */
import { TesseraError } from '../errors.js';
import { KNOWN_MODELS } from '../hub/catalogue.js';
import { listPulled, removePulled } from '../hub/installed.js';
import { pull } from '../hub/pull.js';
import { hubSettings } from '../hub/settings.js';
import { parseCommandLine } from './args.js';
import { DownloadProgress, formatBytes } from './download-progress.js';

const known = KNOWN_MODELS.map((m) => `  ${m.name.padEnd(24)}${m.description}; about ${formatBytes(m.approxBytes.download)} to download, ${formatBytes(m.approxBytes.installed)} installed${m.post.kind === 'convert' ? `, ${formatBytes(m.post.memoryBytes)} of memory to convert` : ''}`).join('\n');

export const PULL_USAGE = `Usage: tessera pull <name | owner/repo> [options]

Downloads a model from the Hugging Face Hub into the cache, resumably and verified (size and
checksum), converts it where it needs converting, and makes its name work as --model NAME or
--clip NAME in every command. Nothing else in Tessera downloads anything.

Names:
${known}
  owner/repo              a Hugging Face repository that holds a Tessera model package

Options:
  --accept-license   accept the model's licence (asked once, for models that have one)
  --force            pull again even if the name is already pulled
  --quiet            no progress bars (they are also off when stderr is not a terminal)

Environment: HF_ENDPOINT (another hub or a mirror), HF_TOKEN (private or gated repositories),
HF_HUB_OFFLINE=1 (use only the cache), HF_HOME / HF_HUB_CACHE (downloads), TESSERA_MODELS_DIR
(pulled models; default ~/.cache/tessera/models), TESSERA_PYTHON (the Python that converts).`;

export const MODELS_USAGE = `Usage: tessera models [--json]      list pulled models, their sizes and folders
       tessera models rm <name>      remove a pulled model and its downloads`;

const PULL_OPTIONS = {
  'accept-license': { type: 'boolean' },
  force: { type: 'boolean' },
  quiet: { type: 'boolean' },
  help: { type: 'boolean' },
} as const;

export async function runPull(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, PULL_OPTIONS);
  if (values.help) {
    process.stdout.write(PULL_USAGE + '\n');
    return 0;
  }
  if (positionals.length !== 1) {
    throw new TesseraError('TESSERA_ERR_OPTION', positionals.length === 0 ? 'a model name is required: tessera pull <name | owner/repo> (tessera pull --help lists them)' : `expected one model name, got ${positionals.length}`, { param: 'name' });
  }
  const progress = !values.quiet && process.stderr.isTTY === true ? new DownloadProgress((text) => process.stderr.write(text)) : null;
  const log = values.quiet ? () => {} : (line: string) => process.stderr.write(`tessera pull: ${line}\n`);
  let result;
  try {
    result = await pull(positionals[0], {
      acceptLicense: values['accept-license'] === true,
      force: values.force === true,
      onProgress: progress === null ? undefined : (p) => progress.update(p),
      onLog: (line) => {
        progress?.finish();
        log(line);
      },
    });
  } finally {
    progress?.finish();
  }
  const use = (KNOWN_MODELS.find((m) => m.name === result.name)?.kind ?? 'package') === 'clip' ? '--clip' : '--model';
  process.stdout.write(
    result.alreadyPulled
      ? `${result.name} is already pulled: ${result.dir} (tessera pull ${result.name} --force pulls it again)\n`
      : `pulled ${result.name} into ${result.dir} (fetched ${formatBytes(result.fetched)}); use it with ${use} ${result.name}\n`,
  );
  return 0;
}

export async function runModels(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, { json: { type: 'boolean' }, help: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write(MODELS_USAGE + '\n');
    return 0;
  }
  const settings = hubSettings();
  if (positionals[0] === 'rm') {
    if (positionals.length !== 2) throw new TesseraError('TESSERA_ERR_OPTION', 'tessera models rm takes one name', { param: 'name' });
    const freed = await removePulled(positionals[1], settings);
    process.stdout.write(`removed ${positionals[1]} (${formatBytes(freed)} freed)\n`);
    return 0;
  }
  if (positionals.length > 0) throw new TesseraError('TESSERA_ERR_OPTION', `unknown models subcommand ${JSON.stringify(positionals[0])}: tessera models, or tessera models rm NAME`, { param: 'models' });
  const models = listPulled(settings);
  if (values.json) {
    const rows = models.map((m) => ({ name: m.name, kind: m.kind, repo: m.repo, dir: m.dir, bytes: m.bytes, downloadBytes: m.downloadBytes, pulledAt: m.pulledAt }));
    process.stdout.write(JSON.stringify({ modelsDir: settings.modelsDir, hubCache: settings.hubCache, models: rows }, null, 2) + '\n');
    return 0;
  }
  if (models.length === 0) {
    process.stdout.write(`no models pulled (in ${settings.modelsDir}); tessera pull --help lists what can be\n`);
    return 0;
  }
  const lines = [`${'name'.padEnd(26)}${'kind'.padEnd(9)}${'size'.padStart(10)}${'download'.padStart(11)}  folder`];
  for (const m of models) lines.push(`${m.name.padEnd(26)}${m.kind.padEnd(9)}${formatBytes(m.bytes).padStart(10)}${formatBytes(m.downloadBytes).padStart(11)}  ${m.dir}`);
  lines.push(`downloads are kept in ${settings.hubCache} (hard-linked where the package is the download itself)`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
