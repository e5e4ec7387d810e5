import { afterEach, beforeEach, vi } from 'vitest';

/** What the CLI wrote while a test ran `main()` in-process. */
export interface CliOutput {
  stdout: string;
  stderr: string;
}

/**
 * Captures process.stdout and process.stderr for every test of the calling file (hooks
 * registered here), cleared before each test; the mocks are restored after it.
 */
export function captureCliOutput(): CliOutput {
  const io: CliOutput = { stdout: '', stderr: '' };
  beforeEach(() => {
    io.stdout = '';
    io.stderr = '';
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => ((io.stdout += String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((io.stderr += String(chunk)), true));
  });
  afterEach(() => vi.restoreAllMocks());
  return io;
}
