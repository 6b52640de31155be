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
          info: { title: 'agentedge', version: '0.1.0', description: 'Edge API for AI-agent workspaces' },
        }),
      ),
  );
  return router;
}
