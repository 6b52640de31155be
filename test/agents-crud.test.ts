import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, withVars, type TestUser } from './helpers';
import { publish, uniqueName } from './packages-fixtures';

const body = (over: Record<string, unknown> = {}) => ({
  name: 'Support bot',
  description: 'Answers questions',
  type: 'chat',
  role: 'support',
  system_prompt: 'Be kind.',
  ...over,
});
const create = async (u: TestUser, over: Record<string, unknown> = {}) => {
  const res = await call('POST', '/agents', { token: u.token, body: body(over) });
  expect(res.status, res.text).toBe(201);
  return res.json.agent;
};
const UNKNOWN = '0190c5a0-0000-7000-8000-000000000000';

describe('POST /agents', () => {
  it('201 with the one agent shape; optional fields take their defaults (model name from LLM_MODEL)', async () => {
    const u = await newUser();
    const res = await withVars({ LLM_MODEL: 'test-model' }, () => call('POST', '/agents', { token: u.token, body: body() }));
    expect(res.status).toBe(201);
    expect(res.json).toEqual({
      agent: {
        agent_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        ...body(),
        status: 'idle',
        model: { provider: 'openai-compatible', name: 'test-model' },
        tools: [],
        config: {},
        package: null,
        version: null,
        created_at: expect.any(String),
        updated_at: expect.any(String),
      },
    });
    expect((await call('GET', `/agents/${res.json.agent.agent_id}`, { token: u.token })).json).toEqual(res.json);
  });

  it('keeps the model, tools and free-form config it is given; config of exactly 16 KiB is fine', async () => {
    const u = await newUser();
    const model = { provider: 'openai-compatible', name: 'gpt-4o', temperature: 0.5, top_p: 0.9, max_tokens: 500 };
    const tools = [{ name: 'search', description: 'Search', parameters: { type: 'object', anything: { goes: 1 } } }];
    const config = { nested: { deep: [1, { x: 'y' }] }, flag: true };
    const a = await create(u, { model, tools, config });
    expect(a).toMatchObject({ model, tools, config });
    const partialModel = await create(u, { model: { temperature: 1 } });
    expect(partialModel.model).toEqual({ provider: 'openai-compatible', name: 'gpt-4o-mini', temperature: 1 });
    const exact = { k: 'x'.repeat(16 * 1024 - '{"k":""}'.length) };
    expect(JSON.stringify(exact).length).toBe(16 * 1024);
    expect((await create(u, { config: exact })).config).toEqual(exact);
  });

  it('400: missing JSON, each required field, bad model, duplicate tools, config over 16 KiB', async () => {
    const u = await newUser();
    expectError(await call('POST', '/agents', { token: u.token }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/agents', { token: u.token, body: '{"name":' }), 400, 'Missing JSON in request');
    for (const field of ['name', 'type', 'role', 'system_prompt']) {
      const b: Record<string, unknown> = body();
      delete b[field];
      const res = await call('POST', '/agents', { token: u.token, body: b });
      expectError(res, 400, `Missing ${field} parameter`);
      expect(res.json.code).toBe('validation_error');
      expectError(await call('POST', '/agents', { token: u.token, body: body({ [field]: '  ' }) }), 400, `Missing ${field} parameter`);
    }
    for (const over of [
      { description: 7 },
      { model: { provider: 'anthropic' } },
      { model: { temperature: 3 } },
      { model: { top_p: -1 } },
      { model: { max_tokens: 1.5 } },
      { tools: [{ description: 'no name' }] },
      { tools: [{ name: 'a' }, { name: 'a' }] },
      { tools: {} },
      { config: [] },
      { config: 'x' },
    ]) {
      const res = await call('POST', '/agents', { token: u.token, body: body(over) });
      expectError(res, 400);
      expect(res.json.code, JSON.stringify(over)).toBe('validation_error');
    }
    const big = { k: 'x'.repeat(16 * 1024 - '{"k":""}'.length + 1) };
    const res = await call('POST', '/agents', { token: u.token, body: body({ config: big }) });
    expectError(res, 400, 'config must be at most 16384 bytes as JSON');
    expect(res.json.code).toBe('validation_error');
    expect(res.json.issues).toEqual([{ path: 'config', message: 'config must be at most 16384 bytes as JSON' }]);
    expect((await call('GET', '/agents', { token: u.token })).json.agents).toEqual([]);
  });

  it('400 unknown_field at any depth but inside config; server-set fields of a sent-back agent are dropped', async () => {
    const u = await newUser();
    const res = await call('POST', '/agents', { token: u.token, body: body({ colour: 'red', model: { name: 'm', seed: 1 } }) });
    expectError(res, 400);
    expect(res.json).toMatchObject({ code: 'unknown_field', fields: ['colour', 'model.seed'] });
    const a = await create(u);
    const copy = await call('POST', '/agents', { token: u.token, body: { ...a, name: 'Copy' } });
    expect(copy.status).toBe(201);
    expect(copy.json.agent).toMatchObject({ name: 'Copy', status: 'idle', package: null });
    expect(copy.json.agent.agent_id).not.toBe(a.agent_id);
  });
});

describe('GET /agents filters and paging', () => {
  it('filters by status, type and role, newest first, with cursors', async () => {
    const u = await newUser();
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await create(u, { name: `a${i}`, type: i % 2 ? 'chat' : 'worker', role: i < 3 ? 'support' : 'sales' }));
    await call('POST', `/agents/${made[4].agent_id}/stop`, { token: u.token });
    const names = async (q: string) => {
      const out: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await call('GET', `/agents?limit=1${q}${cursor ? `&cursor=${cursor}` : ''}`, { token: u.token });
        expect(res.status).toBe(200);
        out.push(...res.json.agents.map((a: any) => a.name));
        cursor = res.json.next_cursor;
      } while (cursor);
      return out;
    };
    expect(await names('')).toEqual(['a4', 'a3', 'a2', 'a1', 'a0']);
    expect(await names('&type=worker')).toEqual(['a4', 'a2', 'a0']);
    expect(await names('&role=support')).toEqual(['a2', 'a1', 'a0']);
    expect(await names('&type=chat&role=support')).toEqual(['a1']);
    expect(await names('&status=offline')).toEqual(['a4']);
    expect(await names('&status=idle&type=worker')).toEqual(['a2', 'a0']);
    // None of them has a live run (test/runs-agents.test.ts covers running).
    expect(await names('&status=running')).toEqual([]);
    expect(await names('&type=nope')).toEqual([]);
    const page = await call('GET', '/agents?type=worker&limit=2', { token: u.token });
    expect(page.json.agents.map((a: any) => a.name)).toEqual(['a4', 'a2']);
    expect(page.json.next_cursor).toEqual(expect.any(String));
    expectError(await call('GET', '/agents?status=busy', { token: u.token }), 400, 'status must be one of idle, offline, running');
    expectError(await call('GET', '/agents?cursor=@@', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', '/agents?limit=101', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
  });

  it('the list query walks the live-agents index', async () => {
    const plan = await env.DB.prepare(
      "EXPLAIN QUERY PLAN SELECT * FROM agents WHERE user_id = ? AND deleted_at IS NULL AND type = 'chat' ORDER BY created_at DESC, id DESC LIMIT 51",
    )
      .bind('u')
      .all<{ detail: string }>();
    expect(plan.results.map((r) => r.detail).join('\n')).toContain('agents_user_live_created_idx');
  });
});

describe('PATCH and PUT /agents/{agent_id}', () => {
  it('PATCH changes only the fields given', async () => {
    const u = await newUser();
    const a = await create(u, { tools: [{ name: 't' }], config: { a: 1 }, model: { name: 'm', temperature: 0.1 } });
    await new Promise((r) => setTimeout(r, 5));
    const res = await call('PATCH', `/agents/${a.agent_id}`, { token: u.token, body: { role: 'triage', config: { b: 2 } } });
    expect(res.status).toBe(200);
    expect(res.json.agent).toEqual({ ...a, role: 'triage', config: { b: 2 }, updated_at: expect.any(String) });
    expect(res.json.agent.updated_at > a.updated_at).toBe(true);
    expect((await call('PATCH', `/agents/${a.agent_id}`, { token: u.token, body: {} })).json.agent).toMatchObject({ role: 'triage', tools: [{ name: 't' }] });
    const model = await call('PATCH', `/agents/${a.agent_id}`, { token: u.token, body: { model: { top_p: 0.5 } } });
    expect(model.json.agent.model).toEqual({ provider: 'openai-compatible', name: 'gpt-4o-mini', top_p: 0.5 });
  });

  it('PUT sets the whole agent: optional fields left out go back to their defaults; status stays', async () => {
    const u = await newUser();
    const a = await create(u, { tools: [{ name: 't' }], config: { a: 1 }, model: { name: 'm', temperature: 0.1 } });
    await call('POST', `/agents/${a.agent_id}/stop`, { token: u.token });
    const next = body({ name: 'Renamed', role: 'ops' });
    const res = await call('PUT', `/agents/${a.agent_id}`, { token: u.token, body: next });
    expect(res.status).toBe(200);
    expect(res.json.agent).toEqual({
      ...a,
      ...next,
      status: 'offline',
      model: { provider: 'openai-compatible', name: 'gpt-4o-mini' },
      tools: [],
      config: {},
      updated_at: expect.any(String),
    });
    // PUT needs every required field; PATCH does not.
    expectError(await call('PUT', `/agents/${a.agent_id}`, { token: u.token, body: { role: 'x' } }), 400, 'Missing name parameter');
    expect((await call('PATCH', `/agents/${a.agent_id}`, { token: u.token, body: { role: 'x' } })).status).toBe(200);
  });

  it('400 on validation, config over 16 KiB and unknown fields, and nothing changes', async () => {
    const u = await newUser();
    const a = await create(u);
    for (const method of ['PATCH', 'PUT']) {
      const path = `/agents/${a.agent_id}`;
      expectError(await call(method, path, { token: u.token }), 400, 'Missing JSON in request');
      const big = await call(method, path, { token: u.token, body: body({ config: { k: 'x'.repeat(16 * 1024) } }) });
      expectError(big, 400, 'config must be at most 16384 bytes as JSON');
      expectError(await call(method, path, { token: u.token, body: body({ name: '' }) }), 400, 'Missing name parameter');
      const unknown = await call(method, path, { token: u.token, body: body({ owner: 'me' }) });
      expectError(unknown, 400, 'Unknown field: owner');
      expect(unknown.json).toMatchObject({ code: 'unknown_field', fields: ['owner'] });
    }
    expect((await call('GET', `/agents/${a.agent_id}`, { token: u.token })).json.agent).toEqual(a);
  });
});

describe('POST /agents/{agent_id}/start and /stop', () => {
  it('stop sets offline, start sets idle; both idempotent', async () => {
    const u = await newUser();
    const a = await create(u);
    for (const [action, status] of [['stop', 'offline'], ['stop', 'offline'], ['start', 'idle'], ['start', 'idle']]) {
      const res = await call('POST', `/agents/${a.agent_id}/${action}`, { token: u.token });
      expect(res.status).toBe(200);
      expect(res.json.agent).toEqual({ ...a, status, updated_at: expect.any(String) });
      expect((await call('GET', `/agents/${a.agent_id}`, { token: u.token })).json.agent.status).toBe(status);
    }
  });
});

describe('DELETE /agents/{agent_id} (soft)', () => {
  it('leaves every workspace, unassigns its tasks and clears it as a chat default agent in one batch; 404 everywhere after; the row stays', async () => {
    const u = await newUser();
    const a = await create(u);
    const keep = await create(u, { name: 'keep' });
    const wsIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      const ws = (await call('POST', '/workspace', { token: u.token })).json.workspace.workspace_id;
      for (const id of [a.agent_id, keep.agent_id]) {
        expect((await call('POST', `/workspace/${ws}/agent`, { token: u.token, body: { agent_id: id } })).status).toBe(200);
      }
      wsIds.push(ws);
    }
    const task = (await call('POST', '/tasks', { token: u.token, body: { title: 't', agent_id: a.agent_id } })).json.task;
    const chat = (await call('POST', `/chat?workspace_id=${wsIds[0]}&agent_id=${a.agent_id}`, { token: u.token })).json.chat;
    const keepChat = (await call('POST', `/chat?workspace_id=${wsIds[1]}&agent_id=${keep.agent_id}`, { token: u.token })).json.chat;
    expect([chat.agent_id, keepChat.agent_id]).toEqual([a.agent_id, keep.agent_id]);

    // Spy (pass-through) on the D1 binding: the delete is one batch and nothing else.
    const db = env.DB;
    const calls: string[] = [];
    (env as any).DB = new Proxy(db, {
      get: (target, prop) => {
        const v = Reflect.get(target, prop);
        if (typeof v !== 'function') return v;
        return (...args: any[]) => {
          if (prop === 'batch') calls.push(`batch:${args[0].length}`);
          else if (prop === 'prepare' && !/^\s*select/i.test(args[0])) calls.push(`prepare:${args[0]}`);
          return v.apply(target, args);
        };
      },
    });
    let res;
    try {
      res = await call('DELETE', `/agents/${a.agent_id}`, { token: u.token });
    } finally {
      (env as any).DB = db;
    }
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'Agent deleted' });
    expect(calls.filter((c) => c.startsWith('batch'))).toEqual(['batch:4']);

    for (const ws of wsIds) {
      expect((await call('GET', `/workspace/${ws}`, { token: u.token })).json.workspace.agents).toEqual([keep.agent_id]);
    }
    expect((await call('GET', `/tasks/${task.task_id}`, { token: u.token })).json.task.agent_id).toBeNull();
    expect((await call('GET', `/chat?chat_id=${chat.chat_id}`, { token: u.token })).json.agent_id).toBeNull();
    expect((await call('GET', `/chat?chat_id=${keepChat.chat_id}`, { token: u.token })).json.agent_id).toBe(keep.agent_id);
    expectError(await call('PUT', `/chat/agent?chat_id=${chat.chat_id}`, { token: u.token, body: { agent_id: a.agent_id } }), 404, 'Agent not found');
    const path = `/agents/${a.agent_id}`;
    expectError(await call('GET', path, { token: u.token }), 404, 'Agent not found');
    expectError(await call('PATCH', path, { token: u.token, body: { role: 'x' } }), 404, 'Agent not found');
    expectError(await call('PUT', path, { token: u.token, body: body() }), 404, 'Agent not found');
    expectError(await call('DELETE', path, { token: u.token }), 404, 'Agent not found');
    expectError(await call('POST', `${path}/start`, { token: u.token }), 404, 'Agent not found');
    expectError(await call('POST', `${path}/stop`, { token: u.token }), 404, 'Agent not found');
    for (const method of ['POST', 'DELETE']) {
      expectError(await call(method, `/workspace/${wsIds[0]}/agent`, { token: u.token, body: { agent_id: a.agent_id } }), 404, 'Agent not found');
    }
    expectError(await call('POST', '/tasks', { token: u.token, body: { title: 't', agent_id: a.agent_id } }), 404, 'Agent not found');
    expectError(await call('PATCH', `/tasks/${task.task_id}`, { token: u.token, body: { agent_id: a.agent_id } }), 404, 'Agent not found');
    const proc = await call('POST', '/processes', {
      token: u.token,
      body: { name: 'p', trigger_type: 'manual', action: { type: 'create_task', task: { title: 't', agent_id: a.agent_id } } },
    });
    expectError(proc, 404, 'Agent not found');
    expect((await call('GET', '/agents', { token: u.token })).json.agents.map((x: any) => x.agent_id)).toEqual([keep.agent_id]);
    const row = await env.DB.prepare('SELECT deleted_at FROM agents WHERE id = ?').bind(a.agent_id).first<{ deleted_at: number }>();
    expect(row?.deleted_at).toEqual(expect.any(Number));
  });

  it('installing the package of a deleted agent gives a new agent; the old row stays', async () => {
    const u = await newUser();
    const name = uniqueName('crud');
    await publish(u.token, name, '1.0.0');
    expect((await call('GET', `/agent/download?query=${name}`, { token: u.token })).status).toBe(200);
    const [first] = (await call('GET', '/agents', { token: u.token })).json.agents;
    expect(first).toMatchObject({ package: name, version: '1.0.0' });
    expect((await call('DELETE', `/agents/${first.agent_id}`, { token: u.token })).status).toBe(200);
    expect((await call('GET', `/agent/download?query=${name}`, { token: u.token })).status).toBe(200);
    const [again] = (await call('GET', '/agents', { token: u.token })).json.agents;
    expect(again.agent_id).not.toBe(first.agent_id);
    expect(again).toMatchObject({ package: name, version: '1.0.0', status: 'idle' });
    const rows = await env.DB.prepare('SELECT id, deleted_at FROM agents WHERE user_id = ? ORDER BY created_at').bind(u.userId).all();
    expect(rows.results).toEqual([
      { id: first.agent_id, deleted_at: expect.any(Number) },
      { id: again.agent_id, deleted_at: null },
    ]);
  });
});

describe('agent routes: 404 and authorization', () => {
  const routes = (id: string): [string, string, unknown?][] => [
    ['GET', `/agents/${id}`],
    ['PATCH', `/agents/${id}`, { role: 'x' }],
    ['PUT', `/agents/${id}`, body()],
    ['DELETE', `/agents/${id}`],
    ['POST', `/agents/${id}/start`],
    ['POST', `/agents/${id}/stop`],
  ];

  it("unknown, malformed and another user's agent: 404 Agent not found, and the owner's agent is untouched", async () => {
    const [owner, other] = [await newUser(), await newUser()];
    const a = await create(owner);
    for (const id of [a.agent_id, UNKNOWN, 'not-an-id', '%20']) {
      for (const [method, path, b] of routes(id)) {
        const res = await call(method, path, { token: other.token, body: b });
        expectError(res, 404, 'Agent not found');
        expect(res.json.code).toBe('agent_not_found');
      }
    }
    expect((await call('GET', `/agents/${a.agent_id}`, { token: owner.token })).json.agent).toEqual(a);
    expect((await call('GET', '/agents', { token: other.token })).json.agents).toEqual([]);
  });

  it('401 without a token and with a bad one, on every route', async () => {
    const u = await newUser();
    const a = await create(u);
    for (const [method, path, b] of [['POST', '/agents', body()] as [string, string, unknown], ['GET', '/agents'] as [string, string], ...routes(a.agent_id)]) {
      expectError(await call(method, path, { body: b }), 401, 'Missing Authorization Header');
      expectError(await call(method, path, { body: b, token: 'not.a.token' }), 401, 'Invalid token');
    }
    expect((await call('GET', `/agents/${a.agent_id}`, { token: u.token })).json.agent).toEqual(a);
  });
});
