/** Image output: PNG chunks, self-describing encoding, candidate grids, `tessera info`. */
export * from './png-chunks.js';
export * from './metadata.js';
export * from './grid.js';
export * from './info.js';
