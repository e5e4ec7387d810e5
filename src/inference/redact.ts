/** Machine paths out of client-facing messages. */
import path from 'node:path';

/**
 * Removes machine paths from a message meant for API clients: the model folder becomes its
 * name, any other absolute path its last component. /readyz needs no key, and an error body
 * must not describe the server's disk.
 */
export function redactPaths(message: string, modelDir: string): string {
  const name = path.basename(modelDir);
  return message
    .split(modelDir)
    .join(name)
    .replace(/(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]?/g, (p) => path.basename(p.replace(/[\\/]+$/, '')));
}
