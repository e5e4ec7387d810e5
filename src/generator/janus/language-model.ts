import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { withNewEntryOutputs, type NewEntryOutputs } from '../../model/new-entry-outputs.js';
import { createSession, type ort, type SessionTuning } from '../../model/runtime.js';
import { TesseraError } from '../../errors.js';
import type { Device } from '../../types.js';

/** The language model's session, and its new-entry outputs when the graph could be rewritten (else it returns its whole cache). */
export interface JanusLanguageModel {
  session: ort.InferenceSession;
  newEntries?: NewEntryOutputs;
  /** Why the graph runs as it is (undefined when rewritten). */
  unchanged?: string;
}

/**
 * Loads the language model rewritten to return only each step's new cache entries
 * (src/model/new-entry-outputs.ts says why), from memory: the package's files are not
 * touched, and external data is read from the graph's own folder. A graph that does not
 * have the Concat(past, new) shape runs as it is.
 */
export async function loadJanusLanguageModel(file: string, device: Device, layers: number, tuning: SessionTuning = {}): Promise<JanusLanguageModel> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    throw new TesseraError('TESSERA_ERR_MODEL_FILE', `cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const rewritten = withNewEntryOutputs(bytes, layers, file);
  if ('reason' in rewritten) return { session: await createSession(file, device, undefined, tuning), unchanged: rewritten.reason };
  const session = await createSession({ bytes: rewritten.bytes, file, folder: dirname(file) }, device, undefined, tuning);
  return { session, newEntries: rewritten.outputs };
}
