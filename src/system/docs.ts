import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRouter, defineRoute } from '../lib/router';
import type { AppEnv } from '../lib/types';
import { API_DESCRIPTION, TAGS } from './openapi-info';

/** The OpenAPI 3.1 document of `app`, as GET /openapi.json serves it (scripts/openapi.mjs writes it to a file). */
export const openApiDocument = (app: OpenAPIHono<AppEnv>) =>
  app.getOpenAPI31Document({
    openapi: '3.1.0',
    info: { title: 'agentedge', version: '0.1.0', description: API_DESCRIPTION },
    servers: [{ url: '/', description: 'This Worker' }],
    tags: TAGS,
  });

/** `GET /openapi.json` (OpenAPI 3.1, generated from the validating schemas) and `GET /docs`. */
export function docsRoutes(app: OpenAPIHono<AppEnv>) {
  const router = createRouter();
  router.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  router.openapi(
    defineRoute('public', {
      method: 'get',
      path: '/openapi.json',
      tags: ['Service'],
      summary: 'This OpenAPI document',
      operationId: 'openApiDocument',
      description:
        'The OpenAPI 3.1 document of every HTTP route, generated from the same zod schemas that validate requests. Each operation carries `x-auth`, its auth kind (`public`, `bearer`, `connection-string` or `signed-link`). No token needed.',
      responses: { 200: { description: 'OpenAPI 3.1 document' } },
    }),
    (c) => c.json(openApiDocument(app)),
  );
  router.openapi(
    defineRoute('public', {
      method: 'get',
      path: '/docs',
      tags: ['Service'],
      summary: 'Interactive API docs (Swagger UI, served by this Worker)',
      operationId: 'docsPage',
      description:
        'This page: Swagger UI over `/openapi.json`, with its assets served by this Worker (no CDN). The WebSocket protocol is described on `/websocket`. No token needed.',
      responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
    }),
    (c) =>
      c.html(DOCS_HTML, 200, {
        'Content-Security-Policy': DOCS_CSP,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      }),
  );
  return router;
}

// Swagger UI's assets are vendored into public/docs/vendor on install, so nothing loads from a CDN.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>agentedge API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/docs/vendor/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/vendor/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;
