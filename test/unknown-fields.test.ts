import { z } from '@hono/zod-openapi';
import { describe, expect, it } from 'vitest';
import { UPSTREAM_ROUTES } from '../src/lib/router';
import { checkFieldsAs, successResources, unknownFields } from '../src/lib/unknown-fields';
import { call, expectError, newUser, type TestUser } from './helpers';
import { created, YEARLY } from './processes-fixtures';
import { makeTask } from './tasks-fixtures';
import { label, routeTable } from './security/route-table';

const refused = (res: Awaited<ReturnType<typeof call>>, fields: string[], msg: string) => {
  expectError(res, 400, msg);
  expect(res.json).toEqual({ msg, code: 'unknown_field', fields, request_id: res.headers.get('x-request-id') });
};

describe('unknownFields (the schema walk)', () => {
  const item = z.object({ id: z.string(), n: z.number().optional() });
  const schema = z.object({
    items: z.array(item).optional(),
    pair: z.tuple([item, z.string()]).nullable(),
    byName: z.record(z.string(), item),
    data: z.unknown(),
    meta: z.record(z.string(), z.any()).default({}),
    loose: z.looseObject({ a: z.string() }),
    strict: z.strictObject({ a: z.string() }),
    either: z.union([z.string(), z.object({ a: z.string() }), z.object({ b: z.string() })]),
    kind: z.discriminatedUnion('type', [
      z.object({ type: z.literal('x'), x: z.string() }),
      z.object({ type: z.literal('y'), y: z.string() }),
    ]),
    both: z.intersection(z.object({ a: z.string() }), z.object({ b: z.string() })),
    piped: z.object({ a: z.string() }).transform((v) => v.a),
    pre: z.preprocess((v) => v, z.object({ a: z.string() })),
    lazy: z.lazy(() => z.object({ a: z.string() })),
    loosely: checkFieldsAs(z.record(z.string(), z.unknown()), z.object({ a: z.string() })),
  });
  const check = (body: unknown, echo: z.ZodType[] = []) => unknownFields(schema, body, echo);

  it('names unknown fields by path, at the top, nested, in array and tuple items and record values', () => {
    expect(check({ typo: 1, items: [{ id: 'a' }, { id: 'b', idd: 'x' }] })).toEqual(['typo', 'items.1.idd']);
    expect(check({ pair: [{ id: 'a', x: 1 }, 's'], byName: { k: { id: 'a', y: 1 } } })).toEqual(['pair.0.x', 'byName.k.y']);
    expect(check({ lazy: { a: '', b: 1 }, piped: { c: 1 }, strict: { z: 1 }, loosely: { a: '', b: 1 } })).toEqual([
      'lazy.b',
      'piped.c',
      'strict.z',
      'loosely.b',
    ]);
  });

  it('lets free-form JSON (unknown, any, loose objects, preprocess) take anything', () => {
    expect(check({ data: { any: { thing: [1] } }, meta: { x: { y: 1 } }, loose: { a: '', more: 1 }, pre: { anything: 1 } })).toEqual([]);
  });

  it('knows a field when any union branch does; a discriminated union asks the branch its tag picks', () => {
    expect(check({ either: { a: '', b: '' } })).toEqual([]);
    expect(check({ either: { c: 1 } })).toEqual(['either.c']);
    expect(check({ both: { a: '', b: '', c: 1 } })).toEqual(['both.c']);
    expect(check({ kind: { type: 'x', x: '', y: '' } })).toEqual(['kind.y']);
    // No branch matches the tag: validation refuses it; here, a field no branch knows.
    expect(check({ kind: { type: 'z', x: '', q: 1 } })).toEqual(['kind.q']);
  });

  it('ignores the fields the success resource carries, at the same path', () => {
    const echo = [z.object({ item_id: z.string(), items: z.array(z.object({ created_at: z.string() })) })];
    expect(check({ item_id: '1', items: [{ id: 'a', created_at: 'x', other: 1 }] }, echo)).toEqual(['items.0.other']);
    expect(successResources({ 201: { content: { 'application/json': { schema: z.object({ task: z.object({ a: z.string() }), msg: z.string() }) } } } }))
      .toHaveLength(1);
    expect(successResources({ 200: { content: { 'application/json': { schema: z.object({ msg: z.string() }) } } } })).toEqual([]);
    expect(successResources({ 200: { content: { 'application/json': { schema: { type: 'object' } } } } })).toEqual([]);
  });
});

describe('JSON bodies on our routes refuse unknown fields', () => {
  let u: TestUser;
  it('400 unknown_field at the top level, and nothing is stored', async () => {
    u = await newUser();
    refused(await call('POST', '/tasks', { token: u.token, body: { title: 'T', due_at: '2030-01-01' } }), ['due_at'], 'Unknown field: due_at');
    refused(
      await call('POST', '/tasks', { token: u.token, body: { title: 'T', due_at: 1, user_id: u.userId, owner: 'x' } }),
      ['due_at', 'user_id', 'owner'],
      'Unknown fields: due_at, user_id, owner',
    );
    expect((await call('GET', '/tasks', { token: u.token })).json.tasks).toEqual([]);
    refused(await call('POST', '/auth/refresh', { body: { refresh_token: u.refreshToken, token: 1 } }), ['token'], 'Unknown field: token');
  });

  it('400 unknown_field for nested fields, named by path; free-form data takes anything', async () => {
    u ??= await newUser();
    const base = { name: 'P', trigger_type: 'time_based', schedule: YEARLY };
    const url = 'https://example.com/hook';
    const post = (action: unknown) => call('POST', '/processes', { token: u.token, body: { ...base, action } });
    refused(await post({ type: 'webhook', url, config_typo: 1 }), ['action.config_typo'], 'Unknown field: action.config_typo');
    refused(await post({ type: 'webhook', url, chat_id: 'c' }), ['action.chat_id'], 'Unknown field: action.chat_id');
    refused(await post({ type: 'create_task', task: { title: 'T', due_at: 'x' } }), ['action.task.due_at'], 'Unknown field: action.task.due_at');
    const data = { anything: { nested: [{ goes: true }] } };
    expect((await makeTask(u, { data })).data).toEqual(data);
    const p = await created(u, { action: { type: 'create_task', task: { title: 'T', data } } });
    expect(p.action.task.data).toEqual(data);
  });

  it('ignores the server-set fields of a resource sent back as read', async () => {
    u ??= await newUser();
    const t = await makeTask(u, { tags: ['a'], data: { k: 1 } });
    const read = (await call('GET', `/tasks/${t.task_id}`, { token: u.token })).json.task;
    const res = await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { ...read, title: 'Renamed' } });
    expect(res.status, JSON.stringify(res.json)).toBe(200);
    expect(res.json.task).toMatchObject({ ...read, title: 'Renamed', updated_at: expect.any(String) });
    refused(await call('PATCH', `/tasks/${t.task_id}`, { token: u.token, body: { ...read, titel: 'x' } }), ['titel'], 'Unknown field: titel');
    const p = await created(u);
    const again = await call('PATCH', `/processes/${p.process_id}`, { token: u.token, body: { ...p, name: 'Again' } });
    expect(again.status, JSON.stringify(again.json)).toBe(200);
    expect(again.json.process).toMatchObject({ process_id: p.process_id, name: 'Again' });
  });
});

describe("the upstream contract's routes ignore unknown fields", () => {
  it('POST /workspace, PUT /workspace/{id}/rename, PUT /user and POST /chat take extras', async () => {
    const u = await newUser();
    const ws = await call('POST', '/workspace', { token: u.token, body: { name: 'W', junk: 1, owner: 'x' } });
    expect(ws.status).toBe(200);
    expect(ws.json.workspace).not.toHaveProperty('junk');
    const id = ws.json.workspace.workspace_id;
    expect((await call('PUT', `/workspace/${id}/rename`, { token: u.token, body: { name: 'V', extra: true } })).status).toBe(200);
    expect((await call('PUT', '/user', { token: u.token, body: { nickname: 'x' } })).status).toBe(200);
    expect((await call('POST', `/chat?workspace_id=${id}`, { token: u.token, body: { title: 'C', extra: [1] } })).status).toBe(200);
  });

  it('lists only routes that exist', () => {
    const defined = new Set(routeTable().map(label));
    for (const route of UPSTREAM_ROUTES) expect(defined, route).toContain(route);
  });
});
