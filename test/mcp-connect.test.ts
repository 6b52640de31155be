import { env } from 'cloudflare:workers';
import { beforeAll, describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { callMcpTool, mcpToolsFor } from '../src/mcp';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';

/**
 * Start, stop, restart, logs and tool calls against the local MCP server (test/mcp-server/server.mjs,
 * the official SDK's server over Streamable HTTP), reached through OUTBOUND_ALLOW_LOOPBACK.
 */

let user: TestUser;
let n = 0;
const slug = () => `c-${Date.now().toString(36)}-${++n}`;
const deps = () => ({ db: getDb(env), env });

async function register(token: string, config: Record<string, unknown>, s = slug()) {
  const res = await call('POST', '/mcp-servers', { token, body: { name: 'Local', slug: s, config } });
  expect(res.status).toBe(201);
  return res.json.server as { server_id: string; slug: string };
}

const logs = async (id: string, token = user.token) => (await call('GET', `/mcp-servers/${id}/logs`, { token })).json.logs as { kind: string; message: string }[];

beforeAll(async () => {
  user = await newUser('mcp-connect');
});

describe('start, stop, restart', () => {
  it('start connects, initializes and stores the tools (an outputSchema included)', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/mcp` });
    const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.server.status).toBe('running');
    expect(res.json.server.last_error).toBeNull();
    expect(res.json.server.capabilities).toHaveProperty('tools');
    const tools = res.json.server.tools as any[];
    expect(tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'fail', 'sleep']);
    const add = tools.find((t) => t.name === 'add');
    expect(add).toMatchObject({ description: 'Adds two numbers', input_schema: { type: 'object', required: ['a', 'b'] }, output_schema: { type: 'object', properties: { sum: { type: 'number' } } } });
    expect(tools.find((t) => t.name === 'echo').input_schema.properties.text).toEqual({ type: 'string' });
    // Stored: a later read shows the same.
    const got = await call('GET', `/mcp-servers/${server.server_id}`, { token: user.token });
    expect(got.json.server).toEqual(res.json.server);
    expect((await logs(server.server_id))[0]).toMatchObject({ kind: 'connected' });
    expect((await logs(server.server_id))[0].message).toMatch(/^started: agentedge-test-mcp 1\.0\.0, 4 tools$/);

    const stopped = await call('POST', `/mcp-servers/${server.server_id}/stop`, { token: user.token });
    expect(stopped.status).toBe(200);
    expect(stopped.json.server.status).toBe('stopped');
    expect((await logs(server.server_id))[0].kind).toBe('stopped');

    const restarted = await call('POST', `/mcp-servers/${server.server_id}/restart`, { token: user.token });
    expect(restarted.status).toBe(200);
    expect(restarted.json.server.status).toBe('running');
    expect(restarted.json.server.tools).toHaveLength(4);
    const entries = await logs(server.server_id);
    expect(entries.map((e) => e.kind)).toEqual(['connected', 'stopped', 'connected']);
    expect(entries[0].message).toMatch(/^restarted:/);
  });

  it('a stop while a start is still connecting wins', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/slow/mcp` });
    const starting = call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
    await new Promise((r) => setTimeout(r, 150));
    expect((await call('POST', `/mcp-servers/${server.server_id}/stop`, { token: user.token })).json.server.status).toBe('stopped');
    const started = await starting;
    expect(started.status).toBe(200);
    expect(started.json.server.status).toBe('stopped');
    expect((await call('GET', `/mcp-servers/${server.server_id}`, { token: user.token })).json.server.status).toBe('stopped');
    // The connection itself is logged all the same.
    expect((await logs(server.server_id)).map((e) => e.kind)).toEqual(['connected', 'stopped']);
  });

  it('an unreachable server: status error, last_error, logged, 502 mcp_unavailable', async () => {
    // A port nothing listens on.
    const server = await register(user.token, { url: 'http://127.0.0.1:9/mcp' });
    const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
    expectError(res, 502);
    expect(res.json.code).toBe('mcp_unavailable');
    const got = (await call('GET', `/mcp-servers/${server.server_id}`, { token: user.token })).json.server;
    expect(got.status).toBe('error');
    expect(got.last_error).toBeTruthy();
    expect((await logs(server.server_id))[0]).toMatchObject({ kind: 'error' });
    expect((await logs(server.server_id))[0].message).toMatch(/^start failed: /);
  });

  it('a server that is not MCP (404 at the URL): 502 and status error', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/nothing-here` });
    const res = await call('POST', `/mcp-servers/${server.server_id}/restart`, { token: user.token });
    expectError(res, 502);
    expect(res.json.code).toBe('mcp_unavailable');
    expect((await call('GET', `/mcp-servers/${server.server_id}`, { token: user.token })).json.server.status).toBe('error');
  });

  it('never follows a redirect (the outbound URL rule): 502', async () => {
    const key = `mcp-redirect-${Date.now()}`;
    const target = encodeURIComponent(`${env.MCP_SERVER_URL}/mcp`);
    const server = await register(user.token, { url: `http://localhost/hook/${key}?status=307&location=${target}` });
    const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
    expectError(res, 502);
    expect(res.json.code).toBe('mcp_unavailable');
    const received = await (await (env as unknown as { WEBHOOK_RECEIVER: Fetcher }).WEBHOOK_RECEIVER.fetch(`http://receiver/_received/${key}`)).json<unknown[]>();
    expect(received).toHaveLength(1);
  });

  it('a URL stored under looser rules is refused again when starting', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/mcp` });
    await withVars({ OUTBOUND_ALLOW_LOOPBACK: 'false' }, async () => {
      const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
      expectError(res, 502);
      expect(res.json.msg).toMatch(/refused: url must use https/);
    });
  });

  it('sends the stored headers: a server behind a bearer token starts only with the right one', async () => {
    const good = await register(user.token, { url: `${env.MCP_SERVER_URL}/auth/mcp`, headers: { Authorization: 'Bearer mcp-test-token', 'X-Extra': 'extra-value' } });
    const res = await call('POST', `/mcp-servers/${good.server_id}/start`, { token: user.token });
    expect(res.status).toBe(200);
    expect(res.json.server.status).toBe('running');
    expect(res.text).not.toContain('mcp-test-token');
    const seen = await (await fetch(`${env.MCP_SERVER_URL}/_headers`)).json<Record<string, string>>();
    expect(seen['x-extra']).toBe('extra-value');
    // Logs never hold header values.
    const l = await call('GET', `/mcp-servers/${good.server_id}/logs`, { token: user.token });
    expect(l.text).not.toContain('mcp-test-token');

    const bad = await register(user.token, { url: `${env.MCP_SERVER_URL}/auth/mcp`, headers: { Authorization: 'Bearer wrong' } });
    const refused = await call('POST', `/mcp-servers/${bad.server_id}/start`, { token: user.token });
    expectError(refused, 502);
    const none = await register(user.token, { url: `${env.MCP_SERVER_URL}/auth/mcp` });
    expectError(await call('POST', `/mcp-servers/${none.server_id}/start`, { token: user.token }), 502);

    // Changing the headers stops the server; the new ones are used on the next start.
    const fixed = await call('PUT', `/mcp-servers/${bad.server_id}`, { token: user.token, body: { config: { headers: { Authorization: 'Bearer mcp-test-token' } } } });
    expect(fixed.json.server).toMatchObject({ status: 'stopped', last_error: null });
    expect((await call('POST', `/mcp-servers/${bad.server_id}/start`, { token: user.token })).json.server.status).toBe('running');
  });

  it('stored headers cannot be opened without MCP_HEADERS_KEY: 503 naming it', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/auth/mcp`, headers: { Authorization: 'Bearer mcp-test-token' } });
    await withVars({ MCP_HEADERS_KEY: undefined } as Record<string, string | undefined> as Record<string, string>, async () => {
      const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
      expectError(res, 503);
      expect(res.json).toMatchObject({ code: 'config_invalid', var: 'MCP_HEADERS_KEY' });
    });
    // Another key cannot open them: status error, set the headers again.
    await withVars({ MCP_HEADERS_KEY: 'another-mcp-headers-key-that-is-long-enough-000' } as Record<string, string>, async () => {
      const res = await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
      expectError(res, 502);
      expect(res.json.msg).toMatch(/cannot be decrypted/);
    });
  });
});

describe('logs', () => {
  it('keeps at most MCP_LOG_MAX entries per server, newest first, paginated', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/mcp` });
    await withVars({ MCP_LOG_MAX: '3' }, async () => {
      for (let i = 0; i < 5; i++) await call('POST', `/mcp-servers/${server.server_id}/${i % 2 ? 'stop' : 'start'}`, { token: user.token });
    });
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM mcp_server_logs WHERE server_id = ?').bind(server.server_id).first<{ n: number }>();
    expect(count!.n).toBe(3);
    const all = await logs(server.server_id);
    expect(all.map((e) => e.kind)).toEqual(['connected', 'stopped', 'connected']);
    const first = await call('GET', `/mcp-servers/${server.server_id}/logs?limit=2`, { token: user.token });
    expect(first.json.logs).toHaveLength(2);
    const rest = await call('GET', `/mcp-servers/${server.server_id}/logs?limit=2&cursor=${first.json.next_cursor}`, { token: user.token });
    expect(rest.json.logs).toHaveLength(1);
    expect(rest.json.next_cursor).toBeNull();
    expect(Object.keys(all[0]).sort()).toEqual(['at', 'kind', 'log_id', 'message']);
  });

  it('deleting a server deletes its logs', async () => {
    const server = await register(user.token, { url: `${env.MCP_SERVER_URL}/mcp` });
    await call('POST', `/mcp-servers/${server.server_id}/start`, { token: user.token });
    await call('DELETE', `/mcp-servers/${server.server_id}`, { token: user.token });
    const count = await env.DB.prepare('SELECT COUNT(*) AS n FROM mcp_server_logs WHERE server_id = ?').bind(server.server_id).first<{ n: number }>();
    expect(count!.n).toBe(0);
  });
});

describe('for the run engine: mcpToolsFor and callMcpTool', () => {
  it('lists the tools of running servers only, and calls them', async () => {
    const owner = await newUser('mcp-engine');
    const running = await register(owner.token, { url: `${env.MCP_SERVER_URL}/mcp` }, 'tools');
    await call('POST', `/mcp-servers/${running.server_id}/start`, { token: owner.token });
    await register(owner.token, { url: `${env.MCP_SERVER_URL}/mcp` }, 'idle');
    const listed = await mcpToolsFor(getDb(env), owner.userId, ['tools', 'idle', 'unknown']);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ slug: 'tools', server_id: running.server_id });
    expect(listed[0].tools.map((t) => t.name).sort()).toEqual(['add', 'echo', 'fail', 'sleep']);
    expect(await mcpToolsFor(getDb(env), user.userId, ['tools'])).toEqual([]);

    expect(await callMcpTool(deps(), owner.userId, 'tools', 'echo', { text: 'hello there' })).toEqual({ ok: true, output: 'hello there' });
    expect(await callMcpTool(deps(), owner.userId, 'tools', 'add', { a: 2, b: 40 })).toEqual({ ok: true, output: '42' });

    // Faults come back as errors for the model, never thrown.
    const failed = await callMcpTool(deps(), owner.userId, 'tools', 'fail', {});
    expect(failed).toEqual({ ok: false, error: 'this tool always fails' });
    const badArgs = await callMcpTool(deps(), owner.userId, 'tools', 'add', { a: 'two' });
    expect(badArgs.ok).toBe(false);
    const unknownTool = await callMcpTool(deps(), owner.userId, 'tools', 'nope', {});
    expect(unknownTool.ok).toBe(false);
    expect(await callMcpTool(deps(), owner.userId, 'tools', 'echo', [1, 2])).toEqual({ ok: false, error: 'Tool arguments must be a JSON object' });
    expect((await callMcpTool(deps(), owner.userId, 'idle', 'echo', { text: 'x' })).ok).toBe(false);
    expect((await callMcpTool(deps(), owner.userId, 'missing', 'echo', { text: 'x' })).ok).toBe(false);
    // Another user's slug is not theirs to call.
    expect(await callMcpTool(deps(), user.userId, 'tools', 'echo', { text: 'x' })).toEqual({ ok: false, error: 'No MCP server "tools"' });

    const entries = await logs(running.server_id, owner.token);
    expect(entries.filter((e) => e.kind === 'tool_call').map((e) => e.message.split(':')[0])).toEqual(['add', 'echo']);
    expect(entries.filter((e) => e.kind === 'tool_error').length).toBeGreaterThanOrEqual(3);
    // Arguments are not logged.
    expect(JSON.stringify(entries)).not.toContain('hello there');
  });

  it('a running server that went away: an error result, logged', async () => {
    const owner = await newUser('mcp-gone');
    const server = await register(owner.token, { url: `${env.MCP_SERVER_URL}/mcp` }, 'gone');
    await call('POST', `/mcp-servers/${server.server_id}/start`, { token: owner.token });
    await env.DB.prepare('UPDATE mcp_servers SET url = ? WHERE id = ?').bind('http://127.0.0.1:9/mcp', server.server_id).run();
    const res = await callMcpTool(deps(), owner.userId, 'gone', 'echo', { text: 'x' });
    expect(res.ok).toBe(false);
    expect((await logs(server.server_id, owner.token))[0].kind).toBe('tool_error');
  });
});
