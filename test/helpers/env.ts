/**
 * Saves the named environment variables and returns what puts them back as they were
 * (unset ones unset again): for tests that point the CLI at a local Hub or cache.
 */
export function saveEnv(names: readonly string[]): () => void {
  const saved = Object.fromEntries(names.map((name) => [name, process.env[name]]));
  return () => {
    for (const name of names) {
      if (saved[name] === undefined) delete process.env[name];
      else process.env[name] = saved[name];
    }
  };
}
