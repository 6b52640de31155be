import { env, exports } from 'cloudflare:workers';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE, call, newUser, type TestUser } from '../helpers';
import { ownEverything, type Owned } from './fixtures';
import { label, routeTable, type RouteEntry } from './route-table';
import { operation, sample, type OpenApiDoc } from './sample';

/**
 * Property-based fuzzing of every route in the route table, with bodies derived from
 * /openapi.json: at least 10,000 malformed or hostile requests. No 5xx, no stack trace or SQL,
 * the standard error shape, and nothing a body should not set is ever stored.
 */
const TOTAL_RUNS = 10_000;
const MASS = 'MASS-ASSIGNED-VALUE';
const routes = routeTable();
let doc: OpenApiDoc;
let fuzzer: TestUser;
let owner: Owned;
let sent = 0;

const hostile = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 50 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    "' OR 1=1 --",
    '"; DROP TABLE users; --',
    '<script>alert(1)</script>',
    '../../etc/passwd',
    '..\\..\\windows',
    '\u0000',
    '\ud800',
    '\udfff\ud800',
    '${jndi:ldap://x/a}',
    '{{7*7}}',
    '%00',
    'null',
    '[]',
    '{}',
    '-1',
    '1e309',
    'NaN',
    '0x7fffffff',
    ' ',
    '🤖'.repeat(1000),
  ),
  fc.integer({ min: 1000, max: 100_000 }).map((n) => "A".repeat(n)),
);

const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  hostile,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(hostile, { maxLength: 5 }),
  fc.dictionary(hostile, hostile, { maxKeys: 5 }),
);

/** Percent-encodes even lone surrogates (as the invalid UTF-8 a hostile client would send). */
function encode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return [...value].map((ch) => (/[\ud800-\udfff]/.test(ch) ? '%ED%A0%80' : encodeURIComponent(ch))).join('');
  }
}

type BodyPlan =
  | { kind: 'mutated'; field: string | null; value: unknown; extra: boolean }
  | { kind: 'raw'; text: string; type: string };

const bodyPlan: fc.Arbitrary<BodyPlan> = fc.oneof(
  fc.record({ kind: fc.constant('mutated' as const), field: fc.option(fc.string({ maxLength: 12 })), value: hostileJson, extra: fc.boolean() }),
  fc.record({
    kind: fc.constant('raw' as const),
    text: fc.oneof(hostile, fc.constantFrom('{', '{"a":', '[1,2', 'null', '"str"', '{"a":1}{', '\ufeff{}')),
    type: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/zip', ''),
  }),
);

function buildRequest(route: RouteEntry, token: string, path: string[], query: Record<string, string>, body: BodyPlan) {
  let i = 0;
  const url = route.path.replace(/\{(\w+)\}/g, (_, p) => encode(path[i++] ?? owner.ids[p] ?? 'x'));
  const qs = Object.entries(query).map(([k, v]) => `${encode(k)}=${encode(v)}`).join('&');
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  let payload: string | undefined;
  if (body.kind === 'raw') {
    payload = body.text;
    if (body.type) headers['content-type'] = body.type;
  } else if (route.jsonBody || route.bodyTypes.length) {
    const base = (sample(doc, operation(doc, route.method, route.path).bodySchema) ?? {}) as Record<string, unknown>;
    const obj: Record<string, unknown> = typeof base === 'object' && base ? { ...base } : {};
    const keys = Object.keys(obj);
    const field = body.field ?? keys[Math.abs(JSON.stringify(body.value ?? '').length) % Math.max(1, keys.length)] ?? 'x';
    obj[field] = body.value;
    if (body.extra) Object.assign(obj, { owner: MASS, user_id: MASS, owner_id: MASS, role: MASS, id: MASS, created_at: MASS, password_hash: MASS });
    payload = JSON.stringify(obj);
    headers['content-type'] = 'application/json';
  }
  return new Request(`${BASE}${url}${qs ? `?${qs}` : ''}`, { method: route.method, headers, body: route.method === 'GET' ? undefined : payload });
}

const LEAK = /\bat \S+:\d+:\d+|node_modules|\.ts:\d+|SQLITE_|D1_ERROR|no such (table|column)|TypeError|ReferenceError|Failed query/;

async function check(route: RouteEntry, req: Request) {
  sent++;
  const res = await exports.default.fetch(req);
  const text = new TextDecoder().decode(await res.arrayBuffer());
  const where = `${label(route)} -> ${res.status}: ${text.slice(0, 300)}`;
  expect(res.status, where).toBeLessThan(500);
  expect(text, where).not.toMatch(LEAK);
  const isDownload = route.path === '/agent/download';
  if (res.status >= 400 && res.status !== 426 && !(isDownload && res.status === 404)) {
    const json = JSON.parse(text);
    expect(typeof json.msg, where).toBe('string');
    expect(typeof json.code, where).toBe('string');
    expect(json, where).toHaveProperty('request_id');
  }
}

beforeAll(async () => {
  doc = (await call('GET', '/openapi.json')).json as OpenApiDoc;
  owner = await ownEverything('FuzzOwner');
  fuzzer = await newUser('fuzzer');
});

describe('fuzzing every route', () => {
  // Routes that end the fuzzer's own session run last (and with a fresh session each).
  const ordered = [...routes.filter((r) => !r.path.startsWith('/auth/')), ...routes.filter((r) => r.path.startsWith('/auth/'))];
  const runs = Math.ceil(TOTAL_RUNS / routes.length);

  it(`sends at least ${TOTAL_RUNS} hostile requests without a 5xx, a leak or a malformed error`, async () => {
    for (const route of ordered) {
      const token = route.path.startsWith('/auth/') ? (await newUser('fuzz-auth')).token : fuzzer.token;
      const queryNames = route.queryParams.map((q) => q.name);
      await fc.assert(
        fc.asyncProperty(
          fc.array(hostile, { maxLength: 3 }),
          fc.dictionary(fc.oneof(fc.constantFrom(...(queryNames.length ? queryNames : ['q'])), hostile), hostile, { maxKeys: 4 }),
          bodyPlan,
          async (path, query, body) => check(route, buildRequest(route, token, path, query, body)),
        ),
        { numRuns: runs, seed: 20261123 },
      );
    }
    expect(sent).toBeGreaterThanOrEqual(TOTAL_RUNS);
  }, 600_000);

  it('stored nothing that only the server may set', async () => {
    const tables = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name != 'd1_migrations'").all<{ name: string }>();
    for (const { name } of tables.results) {
      const cols = await env.DB.prepare(`SELECT name FROM pragma_table_info('${name}')`).all<{ name: string }>();
      for (const col of cols.results) {
        const hit = await env.DB.prepare(`SELECT count(*) AS n FROM "${name}" WHERE "${col.name}" = ?`).bind(MASS).first<{ n: number }>();
        expect(hit?.n, `${name}.${col.name}`).toBe(0);
      }
    }
  });
});
