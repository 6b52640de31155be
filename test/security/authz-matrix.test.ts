import { env, exports } from 'cloudflare:workers';
import { SignJWT, UnsecuredJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE, call, newUser, type TestUser } from '../helpers';
import { ownEverything, packageZip, type Owned } from './fixtures';
import { label, routeTable, type RouteEntry } from './route-table';
import { operation, sample, type OpenApiDoc } from './sample';

/**
 * The authorization matrix, built from the app's own route table: every bearer route with no
 * token, a malformed one, alg none, an expired one, a logged-out session's and another user's.
 */
const routes = routeTable();
let doc: OpenApiDoc;
let owner: Owned;
let intruder: TestUser;
let loggedOut: TestUser;

// Reading a published package is public to signed-in users by design (a registry); only these.
const PUBLIC_REGISTRY_READS = new Set(['GET /agent/packages/{name}', 'GET /agent/packages/{name}/{version}/archive', 'GET /agent/download']);

function claimsOf(token: string) {
  return JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
}

/** Body fields that name a resource by id (not `name`, which is also an ordinary field). */
const idFields = () => Object.fromEntries(Object.entries(owner.ids).filter(([k]) => k.endsWith('_id')));

const AUTH_CODES = ['missing_token', 'invalid_token', 'token_expired', 'session_revoked'];

/** Routes that end the caller's own sessions go last, so they cannot turn the rest into 401s. */
const sessionEnding = (r: RouteEntry) => r.path.startsWith('/auth/');

/** A request for `route` aimed at the owner's resources: path, query and body ids are theirs. */
function requestFor(route: RouteEntry, headers: Record<string, string>) {
  const ids = owner.ids;
  const path = route.path.replace(/\{(\w+)\}/g, (_, p) => encodeURIComponent(ids[p] ?? 'x'));
  const query = new URLSearchParams();
  for (const q of route.queryParams) {
    if (ids[q.name]) query.set(q.name, ids[q.name]);
    else if (q.required) query.set(q.name, '1');
  }
  const qs = query.toString();
  let body: BodyInit | undefined;
  const h = { ...headers };
  if (route.jsonBody) {
    body = JSON.stringify(sample(doc, operation(doc, route.method, route.path).bodySchema, idFields()));
    h['content-type'] = 'application/json';
  } else if (route.bodyTypes.includes('application/zip')) {
    body = packageZip(ids.name, '9.9.9');
    h['content-type'] = 'application/zip';
  } else if (route.bodyTypes.includes('multipart/form-data')) {
    const form = new FormData();
    form.append('file', new File(['intruder bytes'], 'intruder.txt', { type: 'text/plain' }));
    body = form;
  } else if (route.bodyTypes.length) {
    body = 'intruder bytes';
    h['content-type'] = route.bodyTypes[0];
  }
  return new Request(`${BASE}${path}${qs ? `?${qs}` : ''}`, { method: route.method, headers: h, body });
}

/**
 * Whether the request addresses something of the owner's, so it must be refused. An optional
 * query filter (GET /tasks?workspace_id=) may instead answer an empty list: the marker check
 * still proves nothing of the owner's is in it.
 */
function namesOwned(route: RouteEntry): boolean {
  const keys = Object.keys(owner.ids);
  if (route.pathParams.some((p) => keys.includes(p))) return true;
  if (route.queryParams.some((q) => q.required && keys.includes(q.name))) return true;
  const schema = operation(doc, route.method, route.path).bodySchema;
  const body = route.jsonBody ? (sample(doc, schema, idFields()) as Record<string, unknown>) : {};
  return Object.keys(body ?? {}).some((k) => k in idFields());
}

async function send(route: RouteEntry, headers: Record<string, string>) {
  const res = await exports.default.fetch(requestFor(route, headers));
  const text = await res.text();
  let json: any = {};
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, text, json };
}

beforeAll(async () => {
  doc = (await call('GET', '/openapi.json')).json as OpenApiDoc;
  owner = await ownEverything('Owner');
  intruder = await newUser('intruder');
  loggedOut = await newUser('gone');
  expect((await call('POST', '/auth/logout', { token: loggedOut.token })).status).toBe(200);
});

const bearer = routes.filter((r) => r.auth === 'bearer');

describe('authorization matrix: bad tokens on every bearer route', () => {
  const cases: [string, () => Promise<Record<string, string>>, string][] = [
    ['no token', async () => ({}), 'missing_token'],
    ['a malformed token', async () => ({ authorization: 'Bearer not.a.jwt' }), 'invalid_token'],
    ['alg: none', async () => ({ authorization: `Bearer ${new UnsecuredJWT(claimsOf(owner.user.token)).encode()}` }), 'invalid_token'],
    [
      'an expired token',
      async () => {
        const { exp: _e, iat: _i, ...claims } = claimsOf(owner.user.token);
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
          .setIssuedAt(Math.floor(Date.now() / 1000) - 3600)
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(new TextEncoder().encode(env.JWT_SECRET));
        return { authorization: `Bearer ${token}` };
      },
      'token_expired',
    ],
    ["a logged-out session's token", async () => ({ authorization: `Bearer ${loggedOut.token}` }), 'session_revoked'],
  ];
  for (const [name, headers, code] of cases) {
    it(`answers 401 ${code} for ${name}`, async () => {
      const h = await headers();
      for (const route of bearer) {
        const res = await send(route, h);
        expect(res.status, `${label(route)} with ${name}`).toBe(401);
        expect(res.json.code, label(route)).toBe(code);
        expect(res.text, label(route)).not.toContain(owner.marker);
      }
    });
  }
});

describe("authorization matrix: another user's token", () => {
  it("never reads or changes the owner's things, and never shows them", async () => {
    const h = { authorization: `Bearer ${intruder.token}` };
    const ordered = [...bearer.filter((r) => !sessionEnding(r)), ...bearer.filter(sessionEnding)];
    for (const route of ordered) {
      const key = `${route.method} ${route.path}`;
      if (PUBLIC_REGISTRY_READS.has(key)) continue;
      const res = await send(route, h);
      expect(res.status, key).toBeLessThan(500);
      // The intruder is signed in: a 401 here must be the contract's ownership answer, not auth.
      if (!sessionEnding(route)) expect(AUTH_CODES, `${key}: ${res.text.slice(0, 200)}`).not.toContain(res.json.code);
      expect(res.text, key).not.toContain(owner.marker);
      expect(res.text, key).not.toContain(owner.user.email);
      if (namesOwned(route)) expect([401, 403, 404], `${key} -> ${res.status} ${res.text.slice(0, 200)}`).toContain(res.status);
    }
    // Nothing of the owner's changed.
    const t = owner.user.token;
    const ws = await call('GET', `/workspace/${owner.ids.workspace_id}`, { token: t });
    expect(ws.json.workspace.name).toBe(`${owner.marker}-ws`);
    expect(ws.json.workspace.agents).toContain(owner.ids.agent_id);
    expect((await call('GET', `/chat?chat_id=${owner.ids.chat_id}`, { token: t })).status).toBe(200);
    expect((await call('GET', `/tasks/${owner.ids.task_id}`, { token: t })).json.task.title).toBe(`${owner.marker}-task`);
    expect((await call('GET', `/processes/${owner.ids.process_id}`, { token: t })).json.process.name).toBe(`${owner.marker}-process`);
    expect((await call('GET', `/files/${owner.ids.file_id}`, { token: t })).json.file.name).toBe(`${owner.marker}.txt`);
    expect((await call('GET', `/agents/${owner.ids.agent_id}`, { token: t })).status).toBe(200);
    expect((await call('GET', '/user', { token: t })).json.user.email).toBe(owner.user.email);
  });
});

describe('authorization matrix: the other auth kinds', () => {
  it('refuses connection-string routes without a valid string', async () => {
    for (const route of routes.filter((r) => r.auth === 'connection-string')) {
      for (const cs of ['', 'forged-string']) {
        const url = `${BASE}${route.path}?chat_id=${owner.ids.chat_id}${cs ? `&connection_string=${cs}` : ''}`;
        const res = await exports.default.fetch(new Request(url, { headers: { upgrade: 'websocket' } }));
        expect(res.status, `${label(route)} ${cs || 'none'}`).toBe(401);
        expect(res.webSocket).toBeNull();
      }
    }
  });

  it('refuses signed-link routes without a valid signature', async () => {
    for (const route of routes.filter((r) => r.auth === 'signed-link')) {
      const path = route.path.replace(/\{(\w+)\}/g, (_, p) => owner.ids[p] ?? 'x');
      for (const qs of ['', `?expires=${Math.floor(Date.now() / 1000) + 600}&signature=forged`]) {
        const res = await exports.default.fetch(new Request(`${BASE}${path}${qs}`));
        expect([401, 403], `${label(route)} ${qs}`).toContain(res.status);
        expect(await res.text()).not.toContain(owner.marker);
      }
    }
  });
});
