import type { OpenAPIHono } from '@hono/zod-openapi';
import { createRouter, defineRoute } from '../lib/router';
import type { AppEnv } from '../lib/types';

/** `GET /openapi.json` (OpenAPI 3.1, generated from the validating schemas) and `GET /docs`. */
export function docsRoutes(app: OpenAPIHono<AppEnv>) {
  const router = createRouter();
  router.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
  router.openapi(
    defineRoute('public', {
      method: 'get',
      path: '/openapi.json',
      tags: ['Service'],
      summary: 'This document',
      responses: { 200: { description: 'OpenAPI 3.1 document' } },
    }),
    (c) =>
      c.json(
        app.getOpenAPI31Document({
          openapi: '3.1.0',
          info: { title: 'agentedge', version: '0.1.0', description: DESCRIPTION },
        }),
      ),
  );
  router.openapi(
    defineRoute('public', {
      method: 'get',
      path: '/docs',
      tags: ['Service'],
      summary: 'Interactive API docs (Swagger UI, served by this Worker)',
      responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
    }),
    (c) => c.html(DOCS_HTML, 200, { 'Content-Security-Policy': DOCS_CSP }),
  );
  return router;
}

const DESCRIPTION = [
  'Edge API for AI-agent workspaces.',
  'Every error body is `{"msg", "code", "request_id"}` (validation errors add `issues`); `code` is one of the',
  "`Error` schema's enum, each explained in the repository's docs/errors.md. The routes of the upstream",
  'contract keep its paths, status codes and `msg` strings exactly (docs/conventions.md).',
].join(' ');

// Swagger UI's assets are vendored into public/docs/vendor on install, so nothing loads from a CDN.
const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'";

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
