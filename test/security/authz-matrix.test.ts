import { env, exports } from 'cloudflare:workers';
import { SignJWT, UnsecuredJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE, call, newUser, type TestUser } from '../helpers';
import { ownEverything, packageZip, type Owned } from './fixtures';
import { INTRUDER_ANSWERS } from './intruder-answers';
import { label, routeTable, type RouteEntry } from './route-table';
import { operation, sample, type OpenApiDoc } from './sample';
import { linkPath } from '../../src/files/signed-link';

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

async function send(route: RouteEntry, headers: Record<string, string>) {
  const res = await exports.default.fetch(requestFor(route, headers));
  const text = new TextDecoder().decode(await res.arrayBuffer());
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
  it("answers every bearer route exactly, never reads or changes the owner's things, and never shows them", async () => {
    expect(Object.keys(INTRUDER_ANSWERS).sort(), 'test/security/intruder-answers.ts lists every bearer route').toEqual(bearer.map(label).sort());
    const registry = (r: RouteEntry) => PUBLIC_REGISTRY_READS.has(label(r));
    // Registry reads install the package for the intruder, and session-ending routes end sessions: both go last.
    const ordered = [...bearer.filter((r) => !sessionEnding(r) && !registry(r)), ...bearer.filter(registry), ...bearer.filter(sessionEnding)];
    for (const route of ordered) {
      const key = label(route);
      // A session-ending route gets a session of its own, so its answer is not the previous one's 401.
      const token = sessionEnding(route) ? (await call('POST', '/auth/login', { body: { email: intruder.email, password: intruder.password } })).json.access_token : intruder.token;
      const res = await send(route, { authorization: `Bearer ${token}` });
      const [status, code] = INTRUDER_ANSWERS[key];
      expect([res.status, res.json.code], `${key}: ${res.text.slice(0, 200)}`).toEqual([status, code]);
      // The registry is public to signed-in users: its answers name the package, description included.
      if (!registry(route)) expect(res.text, key).not.toContain(owner.marker);
      expect(res.text, key).not.toContain(owner.user.email);
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
      for (const [cs, code] of [['', 'missing_connection_string'], ['forged-string', 'invalid_connection_string']]) {
        const url = `${BASE}${route.path}?chat_id=${owner.ids.chat_id}${cs ? `&connection_string=${cs}` : ''}`;
        const res = await exports.default.fetch(new Request(url, { headers: { upgrade: 'websocket' } }));
        const text = new TextDecoder().decode(await res.arrayBuffer());
        expect([res.status, JSON.parse(text).code], `${label(route)} ${cs || 'none'}: ${text}`).toEqual([401, code]);
        expect(res.webSocket).toBeNull();
      }
    }
  });

  it('refuses signed-link routes without a valid, unexpired signature: 403 with the reason', async () => {
    const fileId = owner.ids.file_id;
    const now = Math.floor(Date.now() / 1000);
    const valid = new URL(BASE + (await linkPath(env, fileId, now + 600)));
    const signature = valid.searchParams.get('signature')!;
    const links: [string, string][] = [
      [`/files/${fileId}/content`, 'invalid_signature'],
      [`/files/${fileId}/content?expires=${now + 600}&signature=forged`, 'invalid_signature'],
      [`/files/${fileId}/content?expires=${now + 601}&signature=${signature}`, 'invalid_signature'],
      [`/files/${fileId}/content?expires=${now + 600}`, 'invalid_signature'],
      [await linkPath(env, fileId, now - 60), 'link_expired'],
      [`/files/${fileId}/content?expires=${now - 60}&signature=forged`, 'invalid_signature'],
    ];
    expect(routes.filter((r) => r.auth === 'signed-link').map(label)).toEqual(['GET /files/{file_id}/content']);
    for (const [link, code] of links) {
      const res = await exports.default.fetch(new Request(BASE + link));
      const text = new TextDecoder().decode(await res.arrayBuffer());
      expect([res.status, JSON.parse(text).code], `${link}: ${text}`).toEqual([403, code]);
      expect(text).not.toContain(owner.marker);
    }
    // The same link unaltered and unexpired serves the file: the refusals above are the signature's doing.
    expect((await exports.default.fetch(new Request(valid))).status).toBe(200);
  });
});
