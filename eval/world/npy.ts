/** numpy .npy (format 1.0) for uint8 arrays, written by hand: Python reads it with np.load(mmap_mode='r'). */
import { TesseraError } from '../../src/errors.js';

const MAGIC = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]);

/** The .npy header for a C-ordered uint8 array of `shape`, padded so data starts on a 64-byte boundary. */
export function npyHeader(shape: readonly number[]): Buffer {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '|u1', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = MAGIC.length + 2 + 2 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (dict.length > 0xffff) throw new TesseraError('TESSERA_ERR_DATASET', `npy header too long (${dict.length} bytes)`);
  const header = Buffer.alloc(MAGIC.length + 4 + dict.length);
  MAGIC.copy(header, 0);
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(dict.length, 8);
  header.write(dict, 10, 'latin1');
  return header;
}

/** Parses a uint8 .npy buffer written by npyHeader (or numpy): shape and data view. */
export function readNpyUint8(buffer: Buffer): { shape: number[]; data: Uint8Array } {
  if (!buffer.subarray(0, 6).equals(MAGIC) || buffer[6] !== 1) throw new TesseraError('TESSERA_ERR_DATASET', 'not a .npy v1 file');
  const length = buffer.readUInt16LE(8);
  const dict = buffer.subarray(10, 10 + length).toString('latin1');
  if (!dict.includes("'descr': '|u1'") || !dict.includes("'fortran_order': False")) {
    throw new TesseraError('TESSERA_ERR_DATASET', `unsupported npy header ${dict.trim()}`);
  }
  const shapeMatch = /'shape': \(([^)]*)\)/.exec(dict);
  if (shapeMatch === null) throw new TesseraError('TESSERA_ERR_DATASET', `npy header without shape: ${dict.trim()}`);
  const shape = shapeMatch[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map(Number);
  const start = 10 + length;
  return { shape, data: new Uint8Array(buffer.buffer, buffer.byteOffset + start, buffer.length - start) };
}
