import type { FastifyRequest } from 'fastify';
import type { GenerationRecord, StoredImage } from '../store.js';
import type { UrlSigner } from '../signed-urls.js';

/**
 * The path of a stored file; signed and expiring when keys are configured (`signer`, from
 * app.tessera.signer: src/server/signed-urls.ts), plain in local mode.
 */
export function fileUrl(id: string, file: string, signer: UrlSigner | null): string {
  const plain = `/v1/files/${id}/${file}`;
  return signer === null ? plain : `${plain}?${signer.query(id, file)}`;
}

/**
 * Absolute base for `url` responses: the configured public URL, else the address the
 * client actually connected to (the socket's local address and port). The Host header is
 * not trusted (it would let any client put its own host into links the server hands out);
 * only "localhost" on the right port is taken from it, for browsers on the same machine.
 */
export function baseUrl(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const socket = request.raw.socket as { localAddress?: string; localPort?: number } | undefined;
  const port = socket?.localPort;
  const address = socket?.localAddress;
  const hostHeader = request.headers.host ?? '';
  if (port !== undefined && (hostHeader === `localhost:${port}` || (port === (request.protocol === 'https' ? 443 : 80) && hostHeader === 'localhost'))) {
    return `${request.protocol}://${hostHeader}`;
  }
  if (address === undefined || port === undefined) return `${request.protocol}://localhost`;
  // IPv4-mapped IPv6 (dual-stack sockets) reads better as plain IPv4.
  const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  const host = plain.includes(':') ? `[${plain}]` : plain;
  return `${request.protocol}://${host}:${port}`;
}

type WithUrl = StoredImage & { url: string };

/** A stored record with a relative URL on every image (what the job and history APIs return). */
export function withUrls(record: GenerationRecord, signer: UrlSigner | null): Omit<GenerationRecord, 'images' | 'candidates'> & { images: WithUrl[]; candidates: WithUrl[] } {
  const add = (image: StoredImage): WithUrl => ({ ...image, url: fileUrl(record.id, image.file, signer) });
  return { ...record, images: record.images.map(add), candidates: record.candidates.map(add) };
}
