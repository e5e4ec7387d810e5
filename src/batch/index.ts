/** Batch generation: a prompt file in, a resumable, self-describing output folder out. */
export * from './prompts.js';
export * from './settings.js';
export * from './store.js';
export * from './runner.js';
export { BATCH_USAGE, formatSummary, runBatchCommand } from './cli.js';
