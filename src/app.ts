import { cors } from 'hono/cors';
import { methodNotAllowed } from 'hono/method-not-allowed';
import { createMiddleware } from 'hono/factory';
import { getDb } from './db/client';
import { config } from './lib/config';
import { errorBody, onError } from './lib/errors';
import { createRouter } from './lib/router';
import type { AppEnv } from './lib/types';
import { readToken } from './middleware/auth';
import { rateLimit } from './middleware/rate-limit';
import { requestId } from './middleware/request-id';
import { agentRoutes } from './routes/agents';
import { authRoutes } from './routes/auth';
import { chatRoutes } from './routes/chats';
import { docsRoutes } from './routes/docs';
import { fileRoutes } from './routes/files';
import { healthRoutes } from './routes/health';
import { processRoutes } from './routes/processes';
import { taskRoutes } from './routes/tasks';
import { userRoutes } from './routes/users';
import { workspaceRoutes } from './routes/workspaces';

const withDb = createMiddleware<AppEnv>(async (c, next) => {
  c.set('db', getDb(c.env));
  await next();
});

export const app = createRouter();

app.use('*', requestId);
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
app.route('/', userRoutes);
app.route('/', workspaceRoutes);
app.route('/', agentRoutes);
app.route('/', chatRoutes);
app.route('/', taskRoutes);
app.route('/', fileRoutes);
app.route('/', processRoutes);
app.route('/', docsRoutes(app));

app.notFound((c) => c.json(errorBody(c, 'not_found', 'Not found'), 404));
app.onError(onError);
