#!/usr/bin/env node
import { isTesseraError, type ErrorCode } from '../errors.js';
import { describeImage } from '../image/info.js';
import { runBatchCommand } from './batch.js';
import { GENERATE_USAGE, runGenerate } from './generate.js';
import { describePackage, isModelPackage } from './package-info.js';
import { runComplete, runEdit, runVary } from './image-prompt.js';

const USAGE = `Usage: tessera <command> [options]

Commands:
  generate "<prompt>"   sample candidates, rank them with CLIP, write the best (tessera generate --help)
  complete <image> "<prompt>" --keep-rows N   keep the image's top rows, sample the rest (tessera complete --help)
  edit <image> --mask <mask.png> "<prompt>"   resample the masked part of an image (tessera edit --help)
  vary <image>          variations of an image, ranked by likeness (tessera vary --help)
  batch <prompts.txt>   generate every prompt of a file into a resumable folder (tessera batch --help)
  info <image.png>      print what an image says about itself (prompt, seed, settings, AI-generated mark)
  info <model-folder>   print a model package's precision variants and cached auto decisions
  search <folder>       find images of a batch or server folder by meaning or likeness (tessera search --help)
  serve                 HTTP API (OpenAI-compatible) and gallery page (tessera serve --help)
  worker --queue URL    run generation jobs from a Redis queue (tessera worker --help)
  pull <name>           download a model (dalle-mini, dalle-mega, clip-vit-base-patch32) from the Hub (tessera pull --help)
  models [rm <name>]    list pulled models with their sizes and folders, or remove one

Run "tessera <command> --help" for a command's options.`;

/** Usage mistakes exit 2, everything else that fails exits 1 (as most CLIs do). */
const USAGE_ERRORS: ErrorCode[] = ['TESSERA_ERR_PROMPT', 'TESSERA_ERR_OPTION', 'TESSERA_ERR_UNKNOWN_FLAG', 'TESSERA_ERR_SEARCH', 'TESSERA_ERR_QUEUE_URL'];

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  generate: runGenerate,
  complete: runComplete,
  edit: runEdit,
  vary: runVary,
  // Loaded on demand: the server's dependencies stay out of `generate` and `info`.
  serve: async (argv) => (await import('./serve.js')).runServe(argv),
  batch: runBatchCommand,
  // Loaded on demand: BullMQ and ioredis stay out of the other commands.
  worker: async (argv) => (await import('./worker.js')).runWorkerCommand(argv),
  search: async (argv) => (await import('./search.js')).runSearchCommand(argv),
  // Loaded on demand: the Hub client stays out of the other commands.
  pull: async (argv) => (await import('./pull.js')).runPull(argv),
  models: async (argv) => (await import('./pull.js')).runModels(argv),
  info: async (argv) => {
    if (argv.includes('--help') || argv.length !== 1) {
      process.stdout.write('Usage: tessera info <image.png | model-package-folder>\n');
      return argv.includes('--help') ? 0 : 2;
    }
    // A model package: its precision variants and the cached auto decisions.
    if (isModelPackage(argv[0])) process.stdout.write(describePackage(argv[0]) + '\n');
    else process.stdout.write((await describeImage(argv[0])) + '\n');
    return 0;
  },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`tessera: error [TESSERA_ERR_UNKNOWN_FLAG]: unknown command ${JSON.stringify(name)}. Should be one of: ${Object.keys(COMMANDS).join(', ')}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    if (isTesseraError(error)) {
      process.stderr.write(`tessera: error [${error.code}]: ${error.message}\n`);
      return USAGE_ERRORS.includes(error.code) ? 2 : 1;
    }
    process.stderr.write(`tessera: unexpected error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

export { GENERATE_USAGE };

// Run only when executed directly (the module is also imported by tests).
const invokedAs = process.argv[1] ?? '';
if (/[\\/](main\.(js|ts)|tessera)$/.test(invokedAs)) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      process.stderr.write(`tessera: unexpected error: ${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
