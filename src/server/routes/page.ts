/** The gallery page and its static files, from a fixed list (no request path reaches the filesystem). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import { PUBLIC_DIR } from '../options.js';

const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/static/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/static/api.js': { file: 'api.js', type: 'text/javascript; charset=utf-8' },
  '/static/grid.js': { file: 'grid.js', type: 'text/javascript; charset=utf-8' },
  '/static/jobs.js': { file: 'jobs.js', type: 'text/javascript; charset=utf-8' },
  '/static/lightbox.js': { file: 'lightbox.js', type: 'text/javascript; charset=utf-8' },
  '/static/image-prompt.js': { file: 'image-prompt.js', type: 'text/javascript; charset=utf-8' },
  '/static/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

export const pageRoutes: FastifyPluginAsync = async (app) => {
  for (const [route, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(path.join(PUBLIC_DIR, file));
    app.get(route, { schema: { hide: true } }, async (_request, reply) => reply.header('content-type', type).header('cache-control', 'no-cache').send(body));
  }
};
