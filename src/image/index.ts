/** Image output: PNG chunks, self-describing encoding, contact sheets and candidate grids, `tessera info`. */
export * from './png-chunks.js';
export * from './png-text-chunks.js';
export * from './metadata.js';
export * from './metadata-reader.js';
export * from './encode.js';
export * from './sheet.js';
export * from './grid.js';
export * from './info.js';
