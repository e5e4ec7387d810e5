/**
 * The checks manifest.json is validated with: small combinators (integer, object,
 * optional, ...) that each throw TESSERA_ERR_MANIFEST naming the key and the bad value.
 * Kept apart from manifest.ts, which holds the manifest's type, its schema built of these,
 * the cross-field rules and the loading: these know nothing of what a model package holds.
 */
import path from 'node:path';
import { TesseraError } from '../errors.js';

export type Check = (value: unknown, where: string) => void;

export function fail(where: string, message: string): never {
  throw new TesseraError('TESSERA_ERR_MANIFEST', `manifest.json: ${where} ${message}`, { param: where });
}

export const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Check =>
  (value, where) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      fail(where, `must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
  };
export const number =
  (min: number, max: number): Check =>
  (value, where) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      fail(where, `must be a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
    }
  };
export const string: Check = (value, where) => {
  if (typeof value !== 'string') fail(where, `must be a string, got ${JSON.stringify(value)}`);
};
/** A path inside the package: relative, no `..`, so a manifest can never point outside its folder. */
export const packagePath: Check = (value, where) => {
  string(value, where);
  const p = value as string;
  if (p === '' || path.isAbsolute(p) || p.split(/[\\/]/).includes('..')) {
    fail(where, `must be a relative path inside the package, got ${JSON.stringify(p)}`);
  }
};
export const literal =
  (...allowedValues: unknown[]): Check =>
  (value, where) => {
    if (!allowedValues.includes(value)) {
      fail(where, `must be one of ${allowedValues.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(value)}`);
    }
  };
export const nullable =
  (check: Check): Check =>
  (value, where) => {
    if (value !== null) check(value, where);
  };
export const arrayOf =
  (check: Check): Check =>
  (value, where) => {
    if (!Array.isArray(value)) fail(where, `must be an array, got ${JSON.stringify(value)}`);
    (value as unknown[]).forEach((item, i) => check(item, `${where}[${i}]`));
  };
export const recordOf =
  (check: Check): Check =>
  (value, where) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'must be an object');
    for (const [key, item] of Object.entries(value as object)) {
      packagePath(key, `${where} key`);
      check(item, `${where}[${JSON.stringify(key)}]`);
    }
  };
/** Marks a key of `object` that may be absent (its value is checked when present). */
const optionalChecks = new WeakSet<Check>();
export const optional = (check: Check): Check => {
  const wrapped: Check = (value, where) => check(value, where);
  optionalChecks.add(wrapped);
  return wrapped;
};
export const object =
  (shape: Record<string, Check>): Check =>
  (value, where) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      fail(where, `must be an object, got ${JSON.stringify(value)}`);
    }
    const record = value as Record<string, unknown>;
    const unknown = Object.keys(record).filter((k) => !(k in shape));
    if (unknown.length > 0) {
      fail(where, `has unknown key(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; allowed: ${Object.keys(shape).join(', ')}`);
    }
    for (const [key, check] of Object.entries(shape)) {
      if (!(key in record)) {
        if (optionalChecks.has(check)) continue;
        fail(`${where}.${key}`, 'is missing');
      }
      check(record[key], `${where}.${key}`);
    }
  };

/** Any JSON object; its contents are free-form (a variant's fidelity figures). */
export const anyObject: Check = (value, where) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, `must be an object, got ${JSON.stringify(value)}`);
};
export const boolean: Check = (value, where) => {
  if (typeof value !== 'boolean') fail(where, `must be true or false, got ${JSON.stringify(value)}`);
};

export const sha256Hex: Check = (value, where) => {
  if (typeof value !== 'string' || !/^[0-9a-f]{64}$/.test(value)) fail(where, 'must be a lowercase sha256 hex digest');
};
