import { describe, expect, it } from 'vitest';
import { parseCommandLine } from '../../src/cli/args.js';
import { deviceFromFlag, queueClientFromFlags, QUEUE_CLIENT_FLAGS, rowCapFromFlags, ROW_CAP_FLAGS, stepRowsFromFlags, STEP_ROWS_FLAGS } from '../../src/cli/shared-flags.js';
import { isTesseraError } from '../../src/errors.js';

const codeOf = (run: () => unknown): string | null => {
  try {
    run();
    return null;
  } catch (error) {
    return isTesseraError(error) ? `${error.code} ${error.message}` : String(error);
  }
};

describe('the flags batch, serve and worker share', () => {
  const rows = (argv: string[]) => stepRowsFromFlags(parseCommandLine(argv, STEP_ROWS_FLAGS).values);

  it('--max-batch-rows and its older name --max-rows are one flag', () => {
    expect(rows(['--max-batch-rows', '256'])).toBe(256);
    expect(rows(['--max-rows', '128'])).toBe(128);
    expect(rows([])).toBeUndefined();
    expect(codeOf(() => rows(['--max-rows', '1', '--max-batch-rows', '2']))).toMatch(/^TESSERA_ERR_OPTION --max-rows is another name for --max-batch-rows/);
    expect(codeOf(() => rows(['--max-rows', 'many']))).toMatch(/^TESSERA_ERR_OPTION --max-rows must be a number/);
  });

  it("generate's and batch's --max-batch-rows is a row cap: none by default, else an integer from 1", () => {
    const cap = (argv: string[]) => rowCapFromFlags(parseCommandLine(argv, ROW_CAP_FLAGS).values);
    expect(cap([])).toBeUndefined();
    expect(cap(['--max-batch-rows', '32'])).toBe(32);
    expect(codeOf(() => cap(['--max-batch-rows', '0']))).toMatch(/^TESSERA_ERR_OPTION --max-batch-rows must be an integer from 1/);
    expect(codeOf(() => cap(['--max-batch-rows', 'all']))).toMatch(/^TESSERA_ERR_OPTION --max-batch-rows must be a number/);
  });

  it('--attempts and --backoff-ms need --queue, and are read with it', () => {
    const queue = (argv: string[]) => queueClientFromFlags(parseCommandLine(argv, QUEUE_CLIENT_FLAGS).values);
    expect(queue([])).toBeUndefined();
    expect(queue(['--queue', 'redis://h:1', '--attempts', '5', '--backoff-ms', '0'])).toEqual({ queue: 'redis://h:1', settings: { attempts: 5, backoffMs: 0 } });
    expect(codeOf(() => queue(['--backoff-ms', '10']))).toMatch(/^TESSERA_ERR_OPTION --backoff-ms needs --queue/);
    expect(codeOf(() => queue(['--queue', 'redis://h:1', '--attempts', '0']))).toMatch(/^TESSERA_ERR_OPTION --attempts must be an integer from 1/);
  });

  it('--device is cpu unless given, and checked', () => {
    expect(deviceFromFlag(undefined)).toBe('cpu');
    expect(codeOf(() => deviceFromFlag('tpu'))).toMatch(/^TESSERA_ERR_/);
  });
});
