import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { call, expectError, newUser, type TestUser } from './helpers';
import { manifest, publish, uniqueName } from './packages-fixtures';

const download = (token: string | undefined, query: string) => call('GET', `/agent/download${query}`, { token });
const r2Key = async (name: string, version: string) =>
  (await env.DB.prepare('SELECT r2_key FROM agent_package_versions WHERE name = ? AND version = ?').bind(name, version).first<{ r2_key: string }>())!.r2_key;
const agents = async (u: TestUser) => (await call('GET', '/agents', { token: u.token })).json.agents as any[];

/** A published package (by a fresh publisher) installed by `u`; returns the agent. */
async function installed(u: TestUser, versions = ['1.0.0']) {
  const publisher = await newUser('publisher');
  const name = uniqueName('agent');
  for (const v of versions) await publish(publisher.token, name, v);
  const res = await download(u.token, `?query=${name}`);
  expect(res.status, res.text).toBe(200);
  const agent = (await agents(u)).find((a) => a.package === name);
  return { name, publisher, agent };
}

describe('GET /agent/download (upstream contract)', () => {
  it("missing or empty query: 400 {error: \"Missing param 'query'\"} beside msg, code and request_id", async () => {
    const u = await newUser();
    for (const q of ['', '?query=', '?version=1.0.0']) {
      const res = await download(u.token, q);
      expectError(res, 400, "Missing param 'query'");
      expect(res.json.error).toBe("Missing param 'query'");
    }
  });

  it('unknown package or version: 404 plain text, with the version as asked or "latest"', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    for (const [q, body] of [
      [`?query=nope-${name}`, `Package not found: nope-${name}:latest`],
      [`?query=nope-${name}&version=1.2.3`, `Package not found: nope-${name}:1.2.3`],
      [`?query=${name}&version=9.9.9`, `Package not found: ${name}:9.9.9`],
      [`?query=${name}&version=not-semver`, `Package not found: ${name}:not-semver`],
    ]) {
      const res = await download(u.token, q);
      expect(res.status).toBe(404);
      expect(res.text).toBe(body);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    }
    expect(await agents(u)).toEqual([]);
  });

  it('no version installs the highest semver; the agent carries the manifest', async () => {
    const u = await newUser();
    const publisher = await newUser();
    const name = uniqueName();
    for (const v of ['1.2.0', '1.10.0', '1.9.0']) await publish(publisher.token, name, v);
    const res = await download(u.token, `?query=${name}`);
    expect(res.status).toBe(200);
    expect(res.text).toBe(`Successfully installed ${name}:1.10.0`);
    const [agent] = await agents(u);
    const m = manifest(name, '1.10.0');
    expect(agent).toEqual({
      agent_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name,
      description: `${name} at 1.10.0`,
      type: 'chat',
      role: 'assistant',
      status: 'idle',
      system_prompt: m.system_prompt,
      // The package's free-text provider maps to openai-compatible.
      model: { ...m.model, provider: 'openai-compatible' },
      tools: m.tools,
      config: {},
      package: name,
      version: '1.10.0',
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const one = await call('GET', `/agents/${agent.agent_id}`, { token: u.token });
    expect(one.status).toBe(200);
    expect(one.json).toEqual({ agent });
    // Installing is per user: the publisher's catalogue is untouched.
    expect(await agents(publisher)).toEqual([]);
  });

  it('pinned install, idempotent re-install, and an upgrade that replaces the version but keeps agent_id and workspaces', async () => {
    const u = await newUser();
    const publisher = await newUser();
    const name = uniqueName();
    await publish(publisher.token, name, '1.0.0');
    await publish(publisher.token, name, '2.0.0', { system_prompt: 'Version two.' });
    expect((await download(u.token, `?query=${name}&version=1.0.0`)).text).toBe(`Successfully installed ${name}:1.0.0`);
    const [first] = await agents(u);
    expect(first.version).toBe('1.0.0');
    expect((await download(u.token, `?query=${name}&version=1.0.0`)).status).toBe(200);
    expect(await agents(u)).toEqual([first]);

    const ws = (await call('POST', '/workspace', { token: u.token })).json.workspace;
    await call('POST', `/workspace/${ws.workspace_id}/agent`, { token: u.token, body: { agent_id: first.agent_id } });
    expect((await download(u.token, `?query=${name}`)).text).toBe(`Successfully installed ${name}:2.0.0`);
    const after = await agents(u);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ agent_id: first.agent_id, version: '2.0.0', created_at: first.created_at });
    const one = await call('GET', `/agents/${first.agent_id}`, { token: u.token });
    expect(one.json.agent.system_prompt).toBe('Version two.');
    expect((await call('GET', `/workspace/${ws.workspace_id}`, { token: u.token })).json.workspace.agents).toEqual([first.agent_id]);
    // An explicit pin is what you get, even an older version; still the same agent.
    expect((await download(u.token, `?query=${name}&version=1.0.0`)).status).toBe(200);
    expect(await agents(u)).toEqual([expect.objectContaining({ agent_id: first.agent_id, version: '1.0.0' })]);
  });

  it('fault injection (R2 object deleted through env.BUCKET): 500 "Failed to download package" and nothing installed', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    await env.BUCKET.delete(await r2Key(name, '1.0.0'));
    const res = await download(u.token, `?query=${name}`);
    expect(res.status).toBe(500);
    expect(res.text).toBe(`Failed to download package: ${name}:1.0.0, archive is missing from storage`);
    expect(await agents(u)).toEqual([]);
  });

  it('fault injection (R2 object overwritten through env.BUCKET): 500 checksum mismatch and nothing installed', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    const key = await r2Key(name, '1.0.0');
    await env.BUCKET.put(key, 'tampered');
    const log = captureErrorLog();
    const res = await download(u.token, `?query=${name}&version=1.0.0`);
    expect(res.status).toBe(500);
    expect(res.text).toBe(`Failed to download package: ${name}:1.0.0, checksum mismatch`);
    expect(log.entries()).toEqual([{ msg: 'package checksum mismatch', key }]);
    expect(await agents(u)).toEqual([]);
  });

  it('fault injection (env.BUCKET.get wrapped to throw): 503 storage is unavailable', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    const bucket = env.BUCKET;
    const failing = new Proxy(bucket, {
      get: (target, prop) => (prop === 'get' ? () => Promise.reject(new Error('R2 down')) : Reflect.get(target, prop).bind(target)),
    });
    (env as any).BUCKET = failing;
    const log = captureErrorLog();
    try {
      const res = await download(u.token, `?query=${name}`);
      expect(res.status).toBe(503);
      expect(res.text).toBe(`Failed to download package: ${name}:1.0.0, storage is unavailable`);
      expect(log.entries()).toEqual([{ msg: 'package download failed', key: await r2Key(name, '1.0.0'), error: 'Error: R2 down' }]);
    } finally {
      (env as any).BUCKET = bucket;
    }
    expect((await download(u.token, `?query=${name}`)).status).toBe(200);
  });
});

describe('GET /agents and /agents/:agent_id', () => {
  it('lists newest first, paginated', async () => {
    const u = await newUser();
    const names: string[] = [];
    for (let i = 0; i < 3; i++) names.push((await installed(u)).name);
    const first = await call('GET', '/agents?limit=2', { token: u.token });
    expect(first.json.agents.map((a: any) => a.package)).toEqual([names[2], names[1]]);
    const second = await call('GET', `/agents?limit=2&cursor=${first.json.next_cursor}`, { token: u.token });
    expect(second.json.agents.map((a: any) => a.package)).toEqual([names[0]]);
    expect(second.json.next_cursor).toBeNull();
    expectError(await call('GET', '/agents?cursor=@@', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', '/agents?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
  });

  it("another user's agent, an unknown id and a malformed id are all 404 Agent not found", async () => {
    const [owner, other] = [await newUser(), await newUser()];
    const { agent } = await installed(owner);
    expect(await agents(other)).toEqual([]);
    for (const id of [agent.agent_id, '0190c5a0-0000-7000-8000-000000000000', 'not-an-id']) {
      expectError(await call('GET', `/agents/${id}`, { token: other.token }), 404, 'Agent not found');
      expectError(await call('DELETE', `/agents/${id}`, { token: other.token }), 404, 'Agent not found');
    }
    expect((await call('GET', `/agents/${agent.agent_id}`, { token: owner.token })).status).toBe(200);
  });

  it('DELETE uninstalls it and takes it out of every workspace; installing again gives a new agent', async () => {
    const u = await newUser();
    const { name, agent } = await installed(u);
    const ws = (await call('POST', '/workspace', { token: u.token })).json.workspace;
    await call('POST', `/workspace/${ws.workspace_id}/agent`, { token: u.token, body: { agent_id: agent.agent_id } });
    const res = await call('DELETE', `/agents/${agent.agent_id}`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'Agent deleted' });
    expectError(await call('GET', `/agents/${agent.agent_id}`, { token: u.token }), 404, 'Agent not found');
    expect((await call('GET', `/workspace/${ws.workspace_id}`, { token: u.token })).json.workspace.agents).toEqual([]);
    expectError(await call('DELETE', `/agents/${agent.agent_id}`, { token: u.token }), 404, 'Agent not found');
    await download(u.token, `?query=${name}`);
    const [again] = await agents(u);
    expect(again.agent_id).not.toBe(agent.agent_id);
  });
});

describe('agent routes auth', () => {
  it('every route: 401 without a token and with a bad one', async () => {
    const u = await newUser();
    const { agent } = await installed(u);
    const ws = (await call('POST', '/workspace', { token: u.token })).json.workspace;
    const routes: [string, string, unknown?][] = [
      ['GET', '/agent/download?query=x'],
      ['GET', '/agents'],
      ['GET', `/agents/${agent.agent_id}`],
      ['DELETE', `/agents/${agent.agent_id}`],
      ['POST', `/workspace/${ws.workspace_id}/agent`, { agent_id: agent.agent_id }],
      ['DELETE', `/workspace/${ws.workspace_id}/agent`, { agent_id: agent.agent_id }],
    ];
    for (const [method, path, body] of routes) {
      expectError(await call(method, path, { body }), 401, 'Missing Authorization Header');
      expectError(await call(method, path, { body, token: 'not.a.token' }), 401, 'Invalid token');
    }
    expect((await call('GET', `/agents/${agent.agent_id}`, { token: u.token })).status).toBe(200);
  });
});
