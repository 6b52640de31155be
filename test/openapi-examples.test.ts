import { beforeAll, describe, expect, it } from 'vitest';
import { call, type Json } from './helpers';
import { ownEverything } from './security/fixtures';

/**
 * /docs as a newcomer uses it: every operation is described, and "Try it out" sends, for every
 * JSON body, the example Swagger UI fills in; sent as it is (ids swapped for real ones), it must
 * succeed. Request fields with a default must be optional for generated clients.
 */

type Schema = Json;
let doc: Json;

const refName = (ref: string) => ref.split('/').pop() as string;
const resolve = (s: Schema): Schema => (s?.$ref ? resolve(doc.components.schemas[refName(s.$ref)]) : s ?? {});

/** Swagger UI's body: the schema's example, else one assembled from its parts (examples, defaults, enums). */
function sample(schema: Schema): unknown {
  const s = resolve(schema);
  if (s.example !== undefined) return s.example;
  if (s.examples?.length) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  if (s.allOf) return Object.assign({}, ...s.allOf.map(sample));
  if (s.oneOf ?? s.anyOf) return sample((s.oneOf ?? s.anyOf)[0]);
  const type = Array.isArray(s.type) ? s.type.find((t: string) => t !== 'null') : s.type;
  if (type === 'object' || s.properties) return Object.fromEntries(Object.entries<Schema>(s.properties ?? {}).map(([k, v]) => [k, sample(v)]));
  if (type === 'array') return [sample(s.items)];
  if (type === 'integer' || type === 'number') return 0;
  if (type === 'boolean') return true;
  return 'string';
}

/** The example's placeholder ids (and refresh token) become ones the test user really has. */
function withIds(value: unknown, ids: Record<string, string>): unknown {
  if (Array.isArray(value)) return value.map((v) => withIds(v, ids));
  if (typeof value !== 'object' || value === null) return value;
  const real = (k: string, v: unknown) => typeof v === 'string' && /_id$|^refresh_token$/.test(k) && ids[k];
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, real(k, v) || withIds(v, ids)]));
}

interface Operation {
  method: string;
  path: string;
  op: Json;
}
const operations = (): Operation[] =>
  Object.entries<Json>(doc.paths).flatMap(([path, item]) => Object.entries<Json>(item).map(([method, op]) => ({ method, path, op })));
const jsonBodyOf = (op: Json): Schema | undefined => op.requestBody?.content?.['application/json']?.schema;

beforeAll(async () => {
  doc = (await call('GET', '/openapi.json')).json;
});

describe('/docs for a newcomer', () => {
  it('describes every operation and every tag', () => {
    const ops = operations();
    expect(ops.length).toBeGreaterThan(50);
    for (const { method, path, op } of ops) {
      expect(op.summary, `${method} ${path}`).toBeTruthy();
      expect(op.description?.length ?? 0, `${method} ${path}`).toBeGreaterThan(40);
      expect(op.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z]+$/);
    }
    expect(new Set(ops.map((o) => o.op.operationId)).size).toBe(ops.length);
    const tags = new Map<string, string>(doc.tags.map((t: Json) => [t.name, t.description]));
    for (const { op } of ops) for (const tag of op.tags) expect(tags.get(tag), tag).toBeTruthy();
    expect(doc.info.description).toContain('](/websocket)');
    expect(tags.get('Chats')).toContain('](/websocket)');
  });

  it('gives every JSON request body an example, never the placeholder "string"', () => {
    for (const { method, path, op } of operations()) {
      const body = jsonBodyOf(op);
      if (!body) continue;
      expect(resolve(body).example, `${method} ${path}`).toBeDefined();
      expect(JSON.stringify(sample(body)), `${method} ${path}`).not.toContain('"string"');
    }
  });

  it('keeps request fields with a default optional (bodies, at any depth, and parameters)', () => {
    const required: string[] = [];
    const walk = (schema: Schema, where: string, seen: Set<string>) => {
      if (schema?.$ref) {
        if (seen.has(schema.$ref)) return;
        return walk(resolve(schema), where, new Set([...seen, schema.$ref]));
      }
      for (const part of [...(schema?.allOf ?? []), ...(schema?.oneOf ?? []), ...(schema?.anyOf ?? [])]) walk(part, where, seen);
      if (schema?.items) walk(schema.items, `${where}[]`, seen);
      for (const [name, prop] of Object.entries<Schema>(schema?.properties ?? {})) {
        if (resolve(prop).default !== undefined && schema.required?.includes(name)) required.push(`${where}.${name}`);
        walk(prop, `${where}.${name}`, seen);
      }
    };
    for (const { method, path, op } of operations()) {
      const body = jsonBodyOf(op);
      if (body) walk(body, `${method} ${path}`, new Set());
      for (const p of op.parameters ?? []) if (p.required && p.schema?.default !== undefined) required.push(`${method} ${path} ${p.name}`);
    }
    expect(required).toEqual([]);
  });
});

describe('Try it out', () => {
  it('succeeds with every JSON body example, sent as Swagger UI sends it', async () => {
    const bodies = operations().filter((o) => jsonBodyOf(o.op));
    const byKey = new Map(bodies.map((o) => [`${o.method} ${o.path}`, o]));
    const send = (o: Operation, ids: Record<string, string>, token?: string) => {
      const path = o.path.replace(/\{(\w+)\}/g, (_, name: string) => ids[name] ?? `{${name}}`);
      const query = (o.op.parameters ?? [])
        .filter((p: Json) => p.in === 'query' && p.required)
        .map((p: Json) => `${p.name}=${encodeURIComponent(ids[p.name] ?? p.example ?? '')}`);
      const url = query.length ? `${path}?${query.join('&')}` : path;
      return call(o.method.toUpperCase(), url, { token, body: withIds(sample(jsonBodyOf(o.op)!), ids) });
    };
    const failures: string[] = [];
    const expectOk = (o: Operation, res: { status: number; text: string }) => {
      if (res.status < 200 || res.status > 299) failures.push(`${o.method} ${o.path}: ${res.status} ${res.text}`);
    };

    // The account examples are one user: register, log in, then change the password.
    const account = ['post /register', 'post /auth/login', 'post /auth/change-password'].map((k) => byKey.get(k)!);
    expectOk(account[0], await send(account[0], {}));
    const login = await send(account[1], {});
    expectOk(account[1], login);
    expectOk(account[2], await send(account[2], {}, login.json.access_token));

    // Everything else as a user who owns one of everything, on a fresh session per request
    // (logout ends its own), with the ids the examples need.
    const owned = await ownEverything('Examples');
    let email = owned.user.email;
    for (const o of bodies) {
      if (account.includes(o)) continue;
      const session = await call('POST', '/auth/login', { body: { email, password: owned.user.password } });
      expect(session.status, session.text).toBe(200);
      const ids: Record<string, string> = { ...owned.ids, refresh_token: session.json.refresh_token };
      // Tool outputs need a run waiting on a client tool: one of the agent's, asked to call it.
      if (o.path === '/runs/{run_id}/tool-outputs') {
        const token = session.json.access_token;
        // Earlier examples may have taken the agent out of the workspace or stopped it.
        await call('POST', `/workspace/${ids.workspace_id}/agent`, { token, body: { agent_id: ids.agent_id } });
        await call('POST', `/agents/${ids.agent_id}/start`, { token });
        await call('PATCH', `/agents/${ids.agent_id}`, { token, body: { tools: [{ name: 'lookup', parameters: { type: 'object' } }], model: { name: 'gpt-4o-mini' } } });
        const asked = await call('POST', `/agents/${ids.agent_id}/chat`, {
          token,
          body: { session_id: ids.chat_id, message: '[[mock {"tool_calls": [{"name": "lookup", "arguments": {}}]}]]' },
        });
        expect(asked.json.status, asked.text).toBe('requires_action');
        ids.run_id = asked.json.run_id;
        ids.call_id = asked.json.required_action?.tool_calls[0]?.call_id;
      }
      // A decision uses its approval up: each decision example gets a pending one of its own.
      if (o.path.startsWith('/approvals/{approval_id}/')) {
        const raised = await call('POST', '/approvals', { token: session.json.access_token, body: { title: 'Try it out' } });
        ids.approval_id = raised.json.approval.approval_id;
      }
      const res = await send(o, ids, session.json.access_token);
      expectOk(o, res);
      if (o.method === 'put' && o.path === '/user' && res.status === 200) email = (sample(jsonBodyOf(o.op)!) as Json).email;
    }
    expect(failures).toEqual([]);
    expect(bodies.length).toBeGreaterThanOrEqual(15);
  });
});
