/**
 * Security defaults: helmet headers with a strict CSP (the gallery loads only its own
 * script, style and images), a per-client rate limit, and optional bearer API keys.
 */
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../api-error.js';
import { shared } from './shared.js';

/** Routes anyone may call even when keys are configured: the page, its files, health, docs, file URLs (capabilities). */
const PUBLIC = [/^\/$/, /^\/static\//, /^\/healthz$/, /^\/readyz$/, /^\/docs(\/|$)/, /^\/v1\/files\//, /^\/favicon\.ico$/];

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function bearerOf(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match ? match[1] : null;
}

export const securityPlugin = shared(async (app) => {
  const { apiKeys, rateLimit: perMinute } = app.tessera.options;
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:', 'blob:'],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    crossOriginEmbedderPolicy: false,
  });

  if (perMinute !== false) {
    await app.register(rateLimit, {
      global: true,
      max: perMinute,
      timeWindow: 60_000,
      keyGenerator: (request) => {
        const key = bearerOf(request);
        return key === null ? `ip:${request.ip}` : `key:${digest(key).toString('hex')}`;
      },
      allowList: (request) => /^\/(healthz|readyz|metrics|static\/|v1\/files\/|$)/.test(request.url),
      errorResponseBuilder: (_request, context) =>
        new ApiError('TESSERA_ERR_RATE_LIMITED', `rate limit exceeded: ${context.max} requests per minute; retry after ${Math.ceil(context.ttl / 1000)} s`, {
          headers: { 'retry-after': String(Math.max(1, Math.ceil(context.ttl / 1000))) },
        }),
    });
  }

  if (apiKeys.length > 0) {
    const digests = apiKeys.map(digest);
    app.addHook('onRequest', async (request) => {
      const pathOnly = request.url.split('?')[0];
      if (PUBLIC.some((p) => p.test(pathOnly))) return;
      const key = bearerOf(request);
      const given = key === null ? null : digest(key);
      if (given === null || !digests.some((d) => timingSafeEqual(d, given))) {
        throw new ApiError('TESSERA_ERR_UNAUTHORIZED', key === null ? 'missing API key: send "Authorization: Bearer <key>"' : 'incorrect API key provided');
      }
    });
  }
});
