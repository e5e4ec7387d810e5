import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The tiny random-weight Janus package (scripts/janus/make_tiny_janus.py) and its reference tokens. */
export const TINY_JANUS = path.join(ROOT, 'test/fixtures/tiny-janus');
export const TINY_JANUS_REFERENCE = path.join(ROOT, 'test/fixtures/tiny-janus-reference.json');
