// MCP under the real runtime: the Worker under `wrangler dev` (workerd refuses `eval`, which the
// vitest pool allows, so the SDK's default ajv validator would fail here once a tool has an
// outputSchema) registers the local MCP server (test/mcp-server/server.mjs), starts it and lists
// its tools, the one with an outputSchema included; then stops and restarts it and reads its logs.
// No browser needed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AUTH_TOKEN, startMcpServer } from '../test/mcp-server/server.mjs';
import { startWorker } from './local-worker.mjs';

let worker;
let mcp;

before(async () => {
  mcp = await startMcpServer();
  worker = await startWorker({ vars: { OUTBOUND_ALLOW_LOOPBACK: 'true', MCP_HEADERS_KEY: 'e2e-mcp-headers-key-0123456789abcdef0123456789' } });
});

after(async () => {
  await worker?.stop();
  await mcp?.close();
});

const api = (method, path, opts) => worker.api(method, path, opts);

test('under wrangler dev: register, start (tools with an outputSchema), stop, restart, logs', async () => {
  const email = `mcp-${Date.now()}@example.com`;
  const password = 'correct horse battery';
  assert.equal((await api('POST', '/register', { body: { email, password } })).status, 200);
  const token = (await api('POST', '/auth/login', { body: { email, password } })).json.access_token;
  assert.ok(token);

  const created = await api('POST', '/mcp-servers', {
    token,
    body: { name: 'Local', slug: 'local', config: { url: `${mcp.url}/auth/mcp`, headers: { Authorization: `Bearer ${AUTH_TOKEN}` } } },
  });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json.server.config.header_names, ['Authorization']);
  assert.ok(!created.text.includes(AUTH_TOKEN));
  const id = created.json.server.server_id;

  const started = await api('POST', `/mcp-servers/${id}/start`, { token });
  assert.equal(started.status, 200, `${started.text}\n${worker.log()}`);
  assert.equal(started.json.server.status, 'running');
  const tools = Object.fromEntries(started.json.server.tools.map((t) => [t.name, t]));
  assert.deepEqual(Object.keys(tools).sort(), ['add', 'echo', 'fail', 'sleep']);
  assert.deepEqual(tools.add.output_schema.properties, { sum: { type: 'number' } });
  assert.ok(started.json.server.capabilities.tools);

  const stopped = await api('POST', `/mcp-servers/${id}/stop`, { token });
  assert.equal(stopped.json.server.status, 'stopped');
  const restarted = await api('POST', `/mcp-servers/${id}/restart`, { token });
  assert.equal(restarted.status, 200, restarted.text);
  assert.equal(restarted.json.server.status, 'running');

  const logs = await api('GET', `/mcp-servers/${id}/logs`, { token });
  assert.deepEqual(logs.json.logs.map((l) => l.kind), ['connected', 'stopped', 'connected']);
  assert.ok(!logs.text.includes(AUTH_TOKEN));
});
