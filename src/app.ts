import { cors } from 'hono/cors';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { createMiddleware } from 'hono/factory';
import { getDb } from './db/client';
import { config } from './lib/config';
import { errorBody, onError } from './lib/errors';
import { createRouter } from './lib/router';
import type { AppEnv } from './lib/types';
import { readToken } from './auth/middleware';
import { rateLimit } from './lib/middleware/rate-limit';
import { requestId } from './lib/middleware/request-id';
import { agentRoutes } from './agents/routes';
import { approvalRoutes } from './approvals/routes';
import { packageRoutes } from './packages/routes';
import { authRoutes } from './auth/routes';
import { chatRoutes } from './chats/routes';
import { costRoutes } from './cost/routes';
import { docsRoutes } from './system/docs';
import { fileRoutes } from './files/routes';
import { mcpRoutes } from './mcp/routes';
import { memoryRoutes } from './memories/routes';
import { healthRoutes, requireValidConfig } from './system/health';
import { processRoutes } from './processes/routes';
import { agentChatRoutes } from './runs/chat-routes';
import { runRoutes } from './runs/routes';
import { taskRoutes } from './tasks/routes';
import { workspaceRoutes } from './workspaces/routes';

const withDb = createMiddleware<AppEnv>(async (c, next) => {
  c.set('db', getDb(c.env));
  await next();
});

export const app = createRouter();

app.use('*', requestId);
app.use('*', requireValidConfig);
// Credentials are allowed only for the origins in CORS_ORIGINS; never `*` with credentials.
app.use(
  '*',
  cors({
    origin: (origin, c) => (config(c.env).corsOrigins.includes(origin) ? origin : null),
    credentials: true,
    allowHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
    exposeHeaders: [
      'X-Request-Id', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset', 'Retry-After',
      'Content-Disposition', 'Content-Range', 'ETag', 'X-Checksum-Sha256',
    ],
    maxAge: 600,
  }),
);
app.use('*', withDb, readToken, rateLimit);
app.use('*', methodNotAllowed({
  app,
  onMethodNotAllowed: (c, methods) =>
    c.json(errorBody(c, 'method_not_allowed', 'Method not allowed'), 405, { Allow: methods.join(', ') }),
}));

app.route('/', healthRoutes);
app.route('/', authRoutes);
app.route('/', workspaceRoutes);
app.route('/', agentRoutes);
app.route('/', packageRoutes);
app.route('/', chatRoutes);
app.route('/', runRoutes);
app.route('/', agentChatRoutes);
app.route('/', costRoutes);
app.route('/', memoryRoutes);
app.route('/', approvalRoutes);
app.route('/', taskRoutes);
app.route('/', fileRoutes);
app.route('/', processRoutes);
app.route('/', mcpRoutes);
app.route('/', docsRoutes(app));

app.notFound((c) => c.json(errorBody(c, 'not_found', 'Not found'), 404));
app.onError(onError);
