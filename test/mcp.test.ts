import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { COMMAND_UNSUPPORTED, HEADERS_KEY_MISSING, SERVER_NOT_FOUND, SLUG_TAKEN } from '../src/mcp/service';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';
import { operation, sample, type OpenApiDoc } from './security/sample';

/** The MCP server routes (src/mcp/): register, read, change, delete; what is refused; secrets never answered. */

let alice: TestUser;
let bob: TestUser;
let n = 0;
const slug = () => `srv-${Date.now().toString(36)}-${++n}`;
const URL = 'https://mcp.example.com/mcp';

const create = (token: string, body: unknown) => call('POST', '/mcp-servers', { token, body });

beforeAll(async () => {
  alice = await newUser('mcp-alice');
  bob = await newUser('mcp-bob');
});

describe('POST /mcp-servers', () => {
  it('registers a server, stopped, with header names but never their values', async () => {
    const s = slug();
    const res = await create(alice.token, { name: 'GitHub', slug: s, config: { url: URL, headers: { Authorization: 'Bearer top-secret-value', 'X-Team': 'red' } } });
    expect(res.status).toBe(201);
    expect(res.json.server).toMatchObject({
      name: 'GitHub',
      slug: s,
      config: { url: URL, header_names: ['Authorization', 'X-Team'] },
      status: 'stopped',
      capabilities: null,
      tools: [],
      last_error: null,
    });
    expect(Object.keys(res.json.server.config).sort()).toEqual(['header_names', 'url']);
    expect(res.text).not.toContain('top-secret-value');
    const id = res.json.server.server_id;
    for (const r of [await call('GET', `/mcp-servers/${id}`, { token: alice.token }), await call('GET', '/mcp-servers', { token: alice.token })]) {
      expect(r.status).toBe(200);
      expect(r.text).not.toContain('top-secret-value');
      expect(r.text).not.toContain('red"');
    }
  });

  it('stores header values encrypted (AES-GCM), not in plaintext', async () => {
    const res = await create(alice.token, { name: 'Enc', slug: slug(), config: { url: URL, headers: { Authorization: 'Bearer plain-text-secret-42' } } });
    expect(res.status).toBe(201);
    const row = await env.DB.prepare('SELECT * FROM mcp_servers WHERE id = ?').bind(res.json.server.server_id).first<Record<string, string>>();
    expect(row).toBeTruthy();
    expect(JSON.stringify(row)).not.toContain('plain-text-secret-42');
    expect(row!.headers_enc).toMatch(/^v1\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+$/);
    expect(atob(row!.headers_enc.split('.')[1])).toHaveLength(12);
    // A random IV per stored value set: the same headers never store the same bytes.
    const again = await create(alice.token, { name: 'Enc2', slug: slug(), config: { url: URL, headers: { Authorization: 'Bearer plain-text-secret-42' } } });
    const row2 = await env.DB.prepare('SELECT headers_enc FROM mcp_servers WHERE id = ?').bind(again.json.server.server_id).first<{ headers_enc: string }>();
    expect(row2!.headers_enc).not.toBe(row!.headers_enc);
  });

  it('without headers, stores none', async () => {
    const res = await create(alice.token, { name: 'Open', slug: slug(), config: { url: URL } });
    expect(res.status).toBe(201);
    expect(res.json.server.config.header_names).toEqual([]);
    const row = await env.DB.prepare('SELECT headers_enc FROM mcp_servers WHERE id = ?').bind(res.json.server.server_id).first<{ headers_enc: string | null }>();
    expect(row!.headers_enc).toBeNull();
  });

  it('refuses config.command: a Worker cannot start processes', async () => {
    const res = await create(alice.token, { name: 'Local', slug: slug(), config: { command: 'npx', args: ['-y', '@modelcontextprotocol/server-github'] } });
    expectError(res, 400, COMMAND_UNSUPPORTED);
    expect(res.json.code).toBe('mcp_command_unsupported');
    expect(res.json.msg).toMatch(/cannot start processes/);
    expect(res.json.msg).toMatch(/remote/);
    // With a URL as well, still refused.
    expect((await create(alice.token, { name: 'Both', slug: slug(), config: { url: URL, command: 'node' } })).json.code).toBe('mcp_command_unsupported');
  });

  it('refuses URLs the outbound check refuses', async () => {
    for (const [url, msg] of [
      ['http://mcp.example.com/mcp', 'config.url must use https'],
      ['https://10.0.0.5/mcp', 'config.url must not point to a private, loopback or reserved address'],
      ['https://169.254.169.254/latest', 'config.url must not point to a private, loopback or reserved address'],
      ['https://metadata.internal/mcp', 'config.url must use a public host name'],
      ['not a url', 'config.url must be a valid absolute URL'],
    ]) {
      const res = await create(alice.token, { name: 'Bad', slug: slug(), config: { url } });
      expectError(res, 400, msg);
      expect(res.json.code).toBe('validation_error');
      expect(res.json.issues).toEqual([{ path: 'config.url', message: msg }]);
    }
    // Loopback only while OUTBOUND_ALLOW_LOOPBACK is on.
    await withVars({ OUTBOUND_ALLOW_LOOPBACK: 'false' }, async () => {
      expectError(await create(alice.token, { name: 'Loop', slug: slug(), config: { url: 'http://127.0.0.1:9/mcp' } }), 400, 'config.url must use https');
    });
  });

  it('validates the body', async () => {
    expectError(await create(alice.token, { slug: slug(), config: { url: URL } }), 400, 'Missing name parameter');
    expectError(await create(alice.token, { name: 'x', config: { url: URL } }), 400, 'Missing slug parameter');
    for (const bad of ['Upper', '-lead', 'a'.repeat(64), 'sp ace', '']) {
      expect((await create(alice.token, { name: 'x', slug: bad, config: { url: URL } })).json.msg).toMatch(/^slug must be/);
    }
    expectError(await create(alice.token, { name: 'x', slug: slug(), config: {} }), 400, 'Missing config.url parameter');
    expectError(await create(alice.token, { name: 'x', slug: slug() }), 400);
    expectError(await create(alice.token, { name: 'x', slug: slug(), config: { url: URL, headers: { A: 1 } } }), 400);
    expectError(await create(alice.token, { name: 'x', slug: slug(), config: { url: URL, headers: { 'bad name': 'v' } } }), 400);
    const unknown = await create(alice.token, { name: 'x', slug: slug(), config: { url: URL, transport: 'sse' } });
    expectError(unknown, 400);
    expect(unknown.json.code).toBe('unknown_field');
    expectError(await call('POST', '/mcp-servers', { token: alice.token }), 400, 'Missing JSON in request');
  });

  it('a slug is unique per user: 409 for the same user, fine for another', async () => {
    const s = slug();
    expect((await create(alice.token, { name: 'One', slug: s, config: { url: URL } })).status).toBe(201);
    const dup = await create(alice.token, { name: 'Two', slug: s, config: { url: URL } });
    expectError(dup, 409, SLUG_TAKEN);
    expect(dup.json.code).toBe('mcp_slug_taken');
    expect((await create(bob.token, { name: 'Bob', slug: s, config: { url: URL } })).status).toBe(201);
  });

  it('headers without MCP_HEADERS_KEY: 503 naming the secret; without headers it works', async () => {
    await withVars({ MCP_HEADERS_KEY: undefined } as Record<string, string | undefined> as Record<string, string>, async () => {
      const res = await create(alice.token, { name: 'NoKey', slug: slug(), config: { url: URL, headers: { Authorization: 'Bearer x' } } });
      expectError(res, 503, HEADERS_KEY_MISSING);
      expect(res.json).toMatchObject({ code: 'config_invalid', var: 'MCP_HEADERS_KEY' });
      expect((await create(alice.token, { name: 'NoKeyOk', slug: slug(), config: { url: URL } })).status).toBe(201);
    });
  });

  it('the minimal body the OpenAPI document describes is accepted (what the security matrix sends)', async () => {
    const doc = (await call('GET', '/openapi.json')).json as OpenApiDoc;
    const body = sample(doc, operation(doc, 'POST', '/mcp-servers').bodySchema) as any;
    expect(body.config.url).toBeTruthy();
    const user = await newUser('mcp-sample');
    expect((await create(user.token, body)).status).toBe(201);
  });

  it('401 without a token', async () => {
    expectError(await call('POST', '/mcp-servers', { body: { name: 'x', slug: slug(), config: { url: URL } } }), 401, 'Missing Authorization Header');
    expectError(await call('GET', '/mcp-servers'), 401, 'Missing Authorization Header');
  });
});

describe('GET /mcp-servers', () => {
  it('lists only your own servers, newest first, paginated', async () => {
    const user = await newUser('mcp-list');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(user.token, { name: `S${i}`, slug: `s${i}`, config: { url: URL } })).json.server.server_id);
    const first = await call('GET', '/mcp-servers?limit=2', { token: user.token });
    expect(first.status).toBe(200);
    expect(first.json.servers.map((s: any) => s.server_id)).toEqual([ids[2], ids[1]]);
    const second = await call('GET', `/mcp-servers?limit=2&cursor=${first.json.next_cursor}`, { token: user.token });
    expect(second.json.servers.map((s: any) => s.server_id)).toEqual([ids[0]]);
    expect(second.json.next_cursor).toBeNull();
    const other = await call('GET', '/mcp-servers', { token: bob.token });
    expect(other.json.servers.some((s: any) => ids.includes(s.server_id))).toBe(false);
    expectError(await call('GET', '/mcp-servers?cursor=nope', { token: user.token }), 400, 'Invalid cursor');
  });
});

describe('GET, PUT, DELETE /mcp-servers/{server_id}', () => {
  it('reads, changes and deletes; another user\'s server is 404', async () => {
    const s = slug();
    const created = await create(alice.token, { name: 'Mine', slug: s, config: { url: URL, headers: { Authorization: 'Bearer keep-me' } } });
    const id = created.json.server.server_id;
    for (const [method, path] of [
      ['GET', `/mcp-servers/${id}`],
      ['PUT', `/mcp-servers/${id}`],
      ['DELETE', `/mcp-servers/${id}`],
      ['POST', `/mcp-servers/${id}/start`],
      ['POST', `/mcp-servers/${id}/stop`],
      ['POST', `/mcp-servers/${id}/restart`],
      ['GET', `/mcp-servers/${id}/logs`],
    ]) {
      const res = await call(method, path, { token: bob.token, body: method === 'PUT' ? { name: 'stolen' } : undefined });
      expectError(res, 404, SERVER_NOT_FOUND);
      expect(res.json.code).toBe('mcp_server_not_found');
    }
    expectError(await call('GET', '/mcp-servers/not-an-id', { token: alice.token }), 404, SERVER_NOT_FOUND);

    const got = await call('GET', `/mcp-servers/${id}`, { token: alice.token });
    expect(got.json.server).toEqual(created.json.server);

    // Renaming keeps the headers (they are never shown, so a client cannot send them back).
    const renamed = await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { name: 'Renamed', slug: `${s}-b` } });
    expect(renamed.status).toBe(200);
    expect(renamed.json.server).toMatchObject({ name: 'Renamed', slug: `${s}-b`, config: { url: URL, header_names: ['Authorization'] } });
    // A client sending back what it read: server-only fields are dropped.
    const echoed = await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { ...renamed.json.server, name: 'Echoed', config: { url: URL } } });
    expect(echoed.status).toBe(200);
    expect(echoed.json.server.name).toBe('Echoed');
    const cleared = await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { config: { headers: {} } } });
    expect(cleared.json.server.config.header_names).toEqual([]);
    expectError(await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { config: { url: 'http://10.1.2.3/' } } }), 400, 'config.url must use https');
    expect((await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { config: { command: 'node' } } })).json.code).toBe('mcp_command_unsupported');
    const taken = slug();
    await create(alice.token, { name: 'Other', slug: taken, config: { url: URL } });
    expectError(await call('PUT', `/mcp-servers/${id}`, { token: alice.token, body: { slug: taken } }), 409, SLUG_TAKEN);

    const del = await call('DELETE', `/mcp-servers/${id}`, { token: alice.token });
    expect(del.status).toBe(200);
    expect(del.json.msg).toBe('MCP server deleted');
    expectError(await call('GET', `/mcp-servers/${id}`, { token: alice.token }), 404, SERVER_NOT_FOUND);
    expectError(await call('DELETE', `/mcp-servers/${id}`, { token: alice.token }), 404, SERVER_NOT_FOUND);
  });
});
