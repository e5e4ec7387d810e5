/**
 * Security defaults: helmet headers with a strict CSP (the gallery loads only its own
 * script, style and images), a per-client rate limit, and optional bearer API keys. Each
 * key is a tenant (src/server/tenancy.ts): the hook sets `request.tenant`, which every
 * route scopes by.
 */
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { timingSafeEqual, createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ApiError } from '../api-error.js';
import { shared } from './shared.js';
import { LOCAL, tenantIdOf, type Tenant } from '../tenancy.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller (LOCAL when no keys are configured; null on a public route called without a key). */
    tenant: Tenant | null;
  }
}

/**
 * Routes anyone may call even when keys are configured: the page, its files, health, docs.
 * File URLs need no key header either: the route itself takes a signed URL or the owner's key.
 */
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
  const { apiKeys, adminKeys, rateLimit: perMinute } = app.tessera.options;
  app.decorateRequest('tenant', null);
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

  if (apiKeys.length + adminKeys.length === 0) {
    app.addHook('onRequest', async (request) => {
      request.tenant = LOCAL;
    });
    return;
  }
  // Admin first: a key listed both ways is an admin key.
  const known = [...adminKeys.map((key) => ({ key, admin: true })), ...apiKeys.map((key) => ({ key, admin: false }))].map(({ key, admin }) => ({
    digest: digest(key),
    tenant: { id: tenantIdOf(key), admin } satisfies Tenant,
  }));
  app.addHook('onRequest', async (request) => {
    const key = bearerOf(request);
    const given = key === null ? null : digest(key);
    // Compare against every key (no early exit), so timing says nothing about which matched.
    let match: Tenant | null = null;
    for (const k of known) if (given !== null && timingSafeEqual(k.digest, given) && match === null) match = k.tenant;
    request.tenant = match;
    if (match !== null) return;
    const pathOnly = request.url.split('?')[0];
    // A public route answers with no key (or a wrong one) as before; /v1/files then asks for a signature.
    if (PUBLIC.some((p) => p.test(pathOnly))) return;
    throw new ApiError('TESSERA_ERR_UNAUTHORIZED', key === null ? 'missing API key: send "Authorization: Bearer <key>"' : 'incorrect API key provided');
  });
});
