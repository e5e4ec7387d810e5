/**
 * Why a job ended without a result, as a catalogue error: the reason its AbortController
 * fired decides first (timeout, shutdown, client cancel or disconnect), otherwise the
 * thrown error maps through the catalogue (an inference child's crash is TESSERA_ERR_WORKER, the code's published name).
 */
import { ApiError, toApiError } from '../api-error.js';
import type { FinalFailure } from './job.js';

/** Why a job's AbortController fired. */
export type AbortReason = 'cancelled' | 'disconnected' | 'timeout' | 'shutdown';

export function failureOf(reason: AbortReason | null, error: unknown, timeoutMs: number): { status: FinalFailure; error: ApiError } {
  if (reason === 'timeout') {
    return { status: 'failed', error: new ApiError('TESSERA_ERR_TIMEOUT', `generation did not finish within ${timeoutMs} ms and was cancelled`) };
  }
  if (reason === 'shutdown') {
    return { status: 'cancelled', error: new ApiError('TESSERA_ERR_SHUTTING_DOWN', 'the server is shutting down; the request was cancelled') };
  }
  if (reason !== null) {
    const message = reason === 'disconnected' ? 'the client disconnected; generation was cancelled' : 'the job was cancelled';
    return { status: 'cancelled', error: new ApiError('TESSERA_ERR_CANCELLED', message) };
  }
  return { status: 'failed', error: toApiError(error) };
}
