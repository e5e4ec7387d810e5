/**
 * The inference child process: loads one model package and runs generation requests
 * sent by the HTTP process. ONNX Runtime's session.run blocks whichever event loop it
 * runs on and a native fault kills the whole process, so it runs here, not in the server.
 *
 * Requests are admitted and cancelled between sampling steps: the sampler checks the
 * AbortSignal before every step and ORT yields to the event loop around each run, so a
 * 'cancel' message lands within one step.
 */
import { isTesseraError } from '../../errors.js';
import { Tessera } from '../../pipeline/tessera.js';
import { WORKER_CONFIG_ENV, type ChildMessage, type ParentMessage, type WorkerConfig } from './protocol.js';

function send(message: ChildMessage): void {
  if (process.connected) process.send?.(message);
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env[WORKER_CONFIG_ENV] ?? '{}') as WorkerConfig;
  // The parent going away (crash or kill) must not leave an orphan holding a model.
  process.on('disconnect', () => process.exit(0));
  let tessera: Tessera;
  try {
    tessera = await Tessera.load({ model: config.model, device: config.device });
  } catch (error) {
    const code = isTesseraError(error) ? error.code : 'TESSERA_ERR_INFERENCE';
    send({ type: 'load-error', code, message: (error as Error).message });
    process.exit(1);
  }
  const running = new Map<string, AbortController>();
  process.on('message', (raw: ParentMessage) => {
    if (raw.type === 'cancel') {
      running.get(raw.id)?.abort(new Error(raw.reason));
      return;
    }
    if (raw.type === 'shutdown') {
      for (const controller of running.values()) controller.abort(new Error('server shutting down'));
      void tessera.dispose().finally(() => process.exit(0));
      return;
    }
    const { id, request } = raw;
    const controller = new AbortController();
    running.set(id, controller);
    void tessera
      .generate(request, {
        signal: controller.signal,
        onEvent: (event) => {
          send({ type: 'event', id, event });
          if (event.type === 'step' && config.stepDelayMs) sleepSync(config.stepDelayMs);
        },
      })
      .then(
        (result) => send({ type: 'result', id, result }),
        (error: unknown) => {
          const e = error as Error & { code?: string; param?: string };
          send({ type: 'error', id, code: isTesseraError(error) ? error.code : 'TESSERA_ERR_INFERENCE', message: e.message, param: e.param });
        },
      )
      .finally(() => running.delete(id));
  });
  send({ type: 'ready', model: tessera.manifest.name, pid: process.pid });
}

void main();
