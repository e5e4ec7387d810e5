import type { FastifyRequest } from 'fastify';
import type { GenerationRecord, StoredImage } from '../store.js';

export function fileUrl(id: string, file: string): string {
  return `/v1/files/${id}/${file}`;
}

/** Absolute base for `url` responses: the configured public URL or the request's own origin. */
export function baseUrl(request: FastifyRequest, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  return `${request.protocol}://${request.host}`;
}

type WithUrl = StoredImage & { url: string };

/** A stored record with a relative URL on every image (what the job and history APIs return). */
export function withUrls(record: GenerationRecord): Omit<GenerationRecord, 'images' | 'candidates'> & { images: WithUrl[]; candidates: WithUrl[] } {
  const add = (image: StoredImage): WithUrl => ({ ...image, url: fileUrl(record.id, image.file) });
  return { ...record, images: record.images.map(add), candidates: record.candidates.map(add) };
}
