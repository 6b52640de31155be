import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { BASE, call, expectError, newUser } from './helpers';

describe('errors and headers every route shares', () => {
  it('answers JSON 404 for an unknown route, with a request id', async () => {
    const res = await call('GET', '/no/such/route');
    expectError(res, 404, 'Not found');
    expect(res.headers.get('x-request-id')).toBe(res.json.request_id);
  });

  it('answers 405 with Allow for a wrong method on a known path', async () => {
    const res = await call('PATCH', '/workspace');
    expectError(res, 405, 'Method not allowed');
    expect(res.headers.get('allow')).toContain('GET');
    expect(res.headers.get('allow')).toContain('POST');
    expectError(await call('DELETE', '/auth/login'), 405);
  });

  it('keeps a sane incoming X-Request-Id and replaces a hostile one', async () => {
    const kept = await call('GET', '/ping', { headers: { 'x-request-id': 'trace-1234abcd' } });
    expect(kept.headers.get('x-request-id')).toBe('trace-1234abcd');
    const replaced = await call('GET', '/ping', { headers: { 'x-request-id': '<script>' } });
    expect(replaced.headers.get('x-request-id')).not.toBe('<script>');
  });

  it('answers 413 past the JSON body limit, by Content-Length or by streaming', async () => {
    const big = JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(1024 * 1024) });
    expectError(await call('POST', '/register', { body: big }), 413);
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(64 * 1024)));
        controller.close();
      },
    });
    const res = await exports.default.fetch(
      new Request(`${BASE}/register`, { method: 'POST', body: stream, headers: { 'content-type': 'application/json' }, duplex: 'half' } as RequestInit),
    );
    expect(res.status).toBe(413);
    expect(((await res.json()) as { code: string }).code).toBe('payload_too_large');
  });

  it('never answers with a stack trace or SQL, even for a 500', async () => {
    const u = await newUser();
    const realPrepare = env.DB.prepare;
    // Fault injection: D1 throws for this one request.
    const log = captureErrorLog();
    env.DB.prepare = () => {
      throw new Error('D1_ERROR: no such table: secret_table at SELECT * FROM users');
    };
    try {
      const res = await call('GET', '/workspace', { token: u.token });
      expectError(res, 500, 'Internal server error');
      expect(res.text).not.toMatch(/secret_table|SELECT|at .*\.ts/);
      // The details go to the log, under the request id the body carries.
      expect(log.entries()).toEqual([
        { request_id: res.json.request_id, error: 'Error: D1_ERROR: no such table: secret_table at SELECT * FROM users', stack: expect.stringContaining('secret_table') },
      ]);
    } finally {
      env.DB.prepare = realPrepare;
    }
  });
});

describe('CORS', () => {
  it('allows listed origins with credentials and never echoes others', async () => {
    const allowed = await call('OPTIONS', '/workspace', {
      headers: { origin: 'http://localhost:8787', 'access-control-request-method': 'POST' },
    });
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:8787');
    expect(allowed.headers.get('access-control-allow-credentials')).toBe('true');
    const denied = await call('GET', '/ping', { headers: { origin: 'https://evil.example' } });
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();
    expect(denied.headers.get('access-control-allow-origin')).not.toBe('*');
  });
});

describe('GET /health', () => {
  it('reports every binding', async () => {
    const res = await call('GET', '/health');
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ status: 'ok', checks: { d1: { ok: true }, kv: { ok: true }, r2: { ok: true }, config: { ok: true } } });
  });

  it.each(['DB', 'SESSIONS', 'BUCKET'] as const)('answers 503 when %s fails (fault injection)', async (binding) => {
    const real = env[binding];
    const failing = new Proxy(real as object, {
      get: () => () => {
        throw new Error('binding unavailable');
      },
    });
    (env as any)[binding] = failing;
    const log = captureErrorLog();
    try {
      const res = await call('GET', '/health');
      expect(res.status).toBe(503);
      expect(res.json.status).toBe('degraded');
      const key = { DB: 'd1', SESSIONS: 'kv', BUCKET: 'r2' }[binding];
      expect(res.json.checks[key]).toEqual({ ok: false, error: 'unavailable' });
      expect(log.entries()).toEqual([{ msg: 'health check failed', error: 'Error: binding unavailable' }]);
    } finally {
      (env as any)[binding] = real;
    }
  });
});

describe('OpenAPI and docs', () => {
  it('serves an OpenAPI 3.1 document with every route, its auth and its errors', async () => {
    const res = await call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.json.openapi).toBe('3.1.0');
    const login = res.json.paths['/auth/login'].post;
    expect(login['x-auth']).toBe('public');
    expect(Object.keys(login.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '404', '429']));
    const ws = res.json.paths['/workspace/{workspace_id}'].get;
    expect(ws['x-auth']).toBe('bearer');
    expect(ws.security).toEqual([{ bearerAuth: [] }]);
    expect(res.json.components.securitySchemes.bearerAuth.scheme).toBe('bearer');
    for (const [path, item] of Object.entries<any>(res.json.paths)) {
      for (const [method, op] of Object.entries<any>(item)) {
        expect(op['x-auth'], `${method} ${path}`).toMatch(/^(public|bearer|connection-string|signed-link)$/);
      }
    }
  });

  it('serves /docs with its own assets under a strict CSP', async () => {
    const res = await call('GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.text).toContain('/docs/vendor/swagger-ui-bundle.js');
    expect(res.text).not.toMatch(/https?:\/\//);
  });
});
