/**
 * Signed, expiring file URLs (issue 23), as hosted image APIs hand them out: with API keys
 * configured, every `url` the server returns is `/v1/files/<id>/<name>?expires=<unix s>&sig=<hex>`,
 * an HMAC-SHA256 over the file's path and the expiry under a per-server secret. A browser's
 * <img> loads it without headers until it expires; a forged, altered or expired one is
 * refused. The secret lives in `<dataDir>/url-secret` (created once, mode 0600), so URLs
 * handed out before a restart stay valid until they expire; deleting the file revokes
 * every outstanding URL.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';

export const SECRET_FILE = 'url-secret';
const SECRET_BYTES = 32;

/** Reads the data folder's URL secret, creating it on first use (exclusive create: two starting servers agree). */
export function loadUrlSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, SECRET_FILE);
  try {
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(SECRET_BYTES).toString('hex') + '\n');
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const secret = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
  if (secret.length < 16) throw new Error(`${file} does not hold a secret of at least 16 bytes (hex); delete it to make a new one`);
  return secret;
}

export type SignatureCheck = 'valid' | 'expired' | 'forged';

export class UrlSigner {
  constructor(
    private readonly secret: Buffer,
    /** How long a handed-out URL stays valid, in seconds. */
    readonly ttlSeconds: number,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {}

  private mac(id: string, name: string, expires: number): Buffer {
    return createHmac('sha256', this.secret).update(`tessera-file\0${id}/${name}\0${expires}`).digest();
  }

  /**
   * The query string of a signed URL. The expiry is rounded up to the next whole minute, so
   * the same image listed twice within a minute gets the same URL (the browser's cache hits).
   */
  query(id: string, name: string): string {
    const expires = Math.ceil((this.now() + this.ttlSeconds) / 60) * 60;
    return `expires=${expires}&sig=${this.mac(id, name, expires).toString('hex')}`;
  }

  /** Checks a URL's `expires` and `sig` (as the query gave them) for the file `id/name`. */
  check(id: string, name: string, expires: unknown, sig: unknown): SignatureCheck {
    if (typeof expires !== 'string' || !/^\d{1,12}$/.test(expires) || typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) return 'forged';
    const given = Buffer.from(sig, 'hex');
    if (!timingSafeEqual(given, this.mac(id, name, Number(expires)))) return 'forged';
    return Number(expires) < this.now() ? 'expired' : 'valid';
  }

  /** Seconds until a valid URL's expiry (for Cache-Control). */
  remaining(expires: string): number {
    return Math.max(0, Math.floor(Number(expires) - this.now()));
  }
}
