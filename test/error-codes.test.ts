import { exports } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/lib/errors';
import { BASE, call, type Json, newUser, type TestUser } from './helpers';

const known = new Set<string>(ERROR_CODES);

/** The standard error body, with a code from the enum. */
function expectCoded(res: { status: number; json: Json }, status: number, code?: string) {
  expect(res.status).toBe(status);
  expect(typeof res.json.msg).toBe('string');
  expect(res.json).toHaveProperty('request_id');
  expect(known, `code ${JSON.stringify(res.json.code)} is not in ERROR_CODES`).toContain(res.json.code);
  if (code) expect(res.json.code).toBe(code);
}

describe('ERROR_CODES', () => {
  it('is a list of distinct snake_case codes', () => {
    expect(known.size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });

  it('is the enum of Error.code in /openapi.json', async () => {
    const doc = (await call('GET', '/openapi.json')).json;
    expect(doc.components.schemas.Error.properties.code.enum).toEqual([...ERROR_CODES]);
  });

  it('is the list docs/errors.md documents, each code once', async () => {
    // Vite inlines the page as a string at build time (the `as string` only quiets tsc).
    const errorsPage: string = (await import('../docs/errors.md?raw' as string)).default;
    const documented = [...errorsPage.matchAll(/^\| `([a-z_]+)` \|/gm)].map((m) => m[1]);
    expect([...documented].sort()).toEqual([...ERROR_CODES].sort());
  });
});

describe('representative errors carry a code from the enum', () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await newUser('codes');
  });

  it('routing: unknown path, wrong method', async () => {
    expectCoded(await call('GET', '/no/such/route'), 404, 'not_found');
    expectCoded(await call('PATCH', '/workspace'), 405, 'method_not_allowed');
  });

  it('bodies: missing JSON, a missing field, a malformed field, too large', async () => {
    expectCoded(await call('POST', '/register', { body: 'not json' }), 400, 'missing_json');
    expectCoded(await call('POST', '/register', { body: { email: 'a@example.com' } }), 400, 'validation_error');
    expectCoded(await call('POST', '/register', { body: { email: 'not-an-email', password: 'long enough pw' } }), 400);
    const big = JSON.stringify({ email: 'a@b.co', password: 'x'.repeat(1024 * 1024) });
    expectCoded(await call('POST', '/register', { body: big }), 413, 'payload_too_large');
  });

  it('auth: no token, a bad token, a wrong password, a taken email', async () => {
    expectCoded(await call('GET', '/workspace'), 401, 'missing_token');
    expectCoded(await call('GET', '/workspace', { token: 'not.a.jwt' }), 401, 'invalid_token');
    expectCoded(await call('POST', '/auth/login', { body: { email: user.email, password: 'wrong password' } }), 401, 'incorrect_password');
    expectCoded(await call('POST', '/register', { body: { email: user.email, password: user.password } }), 400, 'user_exists');
  });

  it('resources: unknown ids, a bad cursor, the upstream download parameter', async () => {
    const token = user.token;
    expectCoded(await call('GET', '/workspace/not-an-id', { token }), 404, 'workspace_not_found');
    expectCoded(await call('GET', '/chat?chat_id=not-an-id', { token }), 404, 'chat_not_found');
    expectCoded(await call('GET', '/tasks/not-an-id', { token }), 404, 'task_not_found');
    expectCoded(await call('GET', '/tasks?cursor=garbage', { token }), 400, 'invalid_cursor');
    const download = await call('GET', '/agent/download', { token });
    expectCoded(download, 400, 'missing_param');
    expect(download.json.error).toBe("Missing param 'query'");
  });

  it('chat connect: no upgrade, no string, a wrong string', async () => {
    const token = user.token;
    const ws = await call('POST', '/workspace', { token });
    const chat = await call('POST', `/chat?workspace_id=${ws.json.workspace_id ?? ws.json.workspace?.workspace_id}`, { token });
    const chatId = chat.json.chat_id ?? chat.json.chat?.chat_id;
    expect(typeof chatId).toBe('string');
    expectCoded(await call('GET', `/chat/ws?chat_id=${chatId}`), 426, 'upgrade_required');
    const upgrade = (query: string) =>
      exports.default.fetch(new Request(`${BASE}/chat/ws?chat_id=${chatId}${query}`, { headers: { upgrade: 'websocket' } }));
    for (const [query, code] of [
      ['', 'missing_connection_string'],
      ['&connection_string=wrong', 'invalid_connection_string'],
    ] as const) {
      const res = await upgrade(query);
      expectCoded({ status: res.status, json: (await res.json()) as Json }, 401, code);
    }
  });
});
