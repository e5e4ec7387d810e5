/** OpenAPI document (from the route schemas) at /docs/json and Swagger UI at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { shared } from './shared.js';

/**
 * The gallery's strict CSP, plus the hash of the one <style> element swagger-ui injects
 * (no 'unsafe-inline'; test/hardening/docs-csp.e2e.test.ts fails if a swagger-ui update changes it).
 */
export const SWAGGER_STYLE_HASH = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='";
export const DOCS_CSP =
  `default-src 'self'; script-src 'self'; style-src 'self' ${SWAGGER_STYLE_HASH}; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`;

export const docsPlugin = shared(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tessera API', version: '0.1.0', description: 'OpenAI-compatible image generation, async jobs with live previews, history. See docs/api.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  // The strict CSP (one hashed style, no inline script) and no online validator badge: the page loads nothing from elsewhere.
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP, uiConfig: { docExpansion: 'list', validatorUrl: null } });
});
