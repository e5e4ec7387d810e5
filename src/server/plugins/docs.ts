/** OpenAPI document (from the route schemas) at /docs/json and Swagger UI at /docs. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { shared } from './shared.js';

export const docsPlugin = shared(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'Tessera API', version: '0.1.0', description: 'OpenAI-compatible image generation, async jobs with live previews, history. See docs/api.md.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true, uiConfig: { docExpansion: 'list' } });
});
