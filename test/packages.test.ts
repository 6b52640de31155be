import { env, exports } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { runCleanupJobs } from '../src/outbox/outbox';
import { BASE, call, expectError, newUser, withVars } from './helpers';
import { packageZip, publish, putPackage, sha256, uniqueName } from './packages-fixtures';

async function archive(token: string | undefined, name: string, version: string) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const res = await exports.default.fetch(new Request(`${BASE}/agent/packages/${name}/${version}/archive`, { headers }));
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}
const asJson = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes));
const r2Keys = async (name: string) => (await env.BUCKET.list({ prefix: `packages/${name}/` })).objects.map((o) => o.key);
const versionRow = (name: string, version: string) =>
  env.DB.prepare('SELECT * FROM agent_package_versions WHERE name = ? AND version = ?').bind(name, version).first<{ r2_key: string; sha256: string }>();

describe('PUT /agent/packages/:name/:version', () => {
  it('publishes: 201 with the metadata, the archive in R2 under the package, its sha256 in D1', async () => {
    const u = await newUser();
    const name = uniqueName();
    const bytes = packageZip(name, '1.0.0');
    const res = await putPackage(u.token, name, '1.0.0', bytes);
    expect(res.status).toBe(201);
    expect(res.json.package_version).toEqual({
      name,
      version: '1.0.0',
      description: `${name} at 1.0.0`,
      sha256: await sha256(bytes),
      size: bytes.length,
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    const row = await versionRow(name, '1.0.0');
    expect(row?.sha256).toBe(await sha256(bytes));
    expect(row?.r2_key).toMatch(new RegExp(`^packages/${name}/1\\.0\\.0/[0-9a-f-]{36}\\.zip$`));
    const stored = await env.BUCKET.get(row!.r2_key);
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(bytes);
    // The upload's cleanup job was dropped in the same batch that recorded the version.
    const jobs = await env.DB.prepare('SELECT count(*) AS n FROM cleanup_jobs WHERE target = ?').bind(row!.r2_key).first<{ n: number }>();
    expect(jobs?.n).toBe(0);
  });

  it('the first publisher owns the name: another user gets 403 and nothing is stored; the owner adds versions', async () => {
    const [owner, squatter] = [await newUser(), await newUser()];
    const name = uniqueName();
    await publish(owner.token, name, '1.0.0');
    const res = await putPackage(squatter.token, name, '2.0.0', packageZip(name, '2.0.0'));
    expectError(res, 403, `Package ${name} belongs to another user`);
    expect(await versionRow(name, '2.0.0')).toBeNull();
    expect(await r2Keys(name)).toHaveLength(1);
    await publish(owner.token, name, '2.0.0');
  });

  it('re-publishing a version is 409, also for one equal in precedence (build metadata)', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    expectError(await putPackage(u.token, name, '1.0.0', packageZip(name, '1.0.0')), 409, `Version 1.0.0 of ${name} already exists`);
    expectError(await putPackage(u.token, name, '1.0.0+build.7', packageZip(name, '1.0.0+build.7')), 409, `Version 1.0.0 of ${name} already exists`);
    expect(await r2Keys(name)).toHaveLength(1);
  });

  it('two concurrent publishes of one version: exactly one wins and the loser leaves no R2 object behind', async () => {
    const u = await newUser();
    const name = uniqueName();
    const a = packageZip(name, '1.0.0', { over: { description: 'a' } });
    const b = packageZip(name, '1.0.0', { over: { description: 'b' } });
    const results = await Promise.all([putPackage(u.token, name, '1.0.0', a), putPackage(u.token, name, '1.0.0', b)]);
    expect(results.map((r) => r.status).sort()).toEqual([201, 409]);
    const winner = results.find((r) => r.status === 201)!.json.package_version;
    // Sweep whatever the loser registered (waitUntil may not have run yet); it must not touch the winner.
    const jobs = await env.DB.prepare("SELECT id FROM cleanup_jobs WHERE target LIKE ?").bind(`packages/${name}/%`).all<{ id: string }>();
    await runCleanupJobs(env, jobs.results.map((j) => j.id));
    const row = await versionRow(name, '1.0.0');
    expect(await r2Keys(name)).toEqual([row!.r2_key]);
    const got = await archive(u.token, name, '1.0.0');
    expect(await sha256(got.bytes)).toBe(winner.sha256);
  });

  it('refuses bad names and versions in the path with 400', async () => {
    const u = await newUser();
    const zip = packageZip('x', '1.0.0');
    for (const name of ['Upper', '-dash', '_x', 'a'.repeat(101), 'a%20b']) {
      const res = await putPackage(u.token, name, '1.0.0', zip);
      expect(res.status, name).toBe(400);
      expect(res.json.msg).toMatch(/^Invalid package name/);
    }
    for (const version of ['1.0', '01.0.0', 'v1.0.0', '1.0.0-', 'latest', `1.0.0-${'a'.repeat(64)}`]) {
      const res = await putPackage(u.token, 'x', version, zip);
      expect(res.status, version).toBe(400);
      expect(res.json.msg).toMatch(/^Invalid version/);
    }
  });

  it('refuses a body that is not application/zip with 415', async () => {
    const u = await newUser();
    const name = uniqueName();
    const zip = packageZip(name, '1.0.0');
    expectError(await putPackage(u.token, name, '1.0.0', zip, { 'content-type': 'application/json' }), 415, 'Content-Type must be application/zip');
    expectError(await putPackage(u.token, name, '1.0.0', zip, { 'content-type': '' }), 415);
    expect(await versionRow(name, '1.0.0')).toBeNull();
  });

  it('413 by Content-Length before reading, and 413 while reading a body that declares no length', async () => {
    const u = await newUser();
    const name = uniqueName();
    const zip = packageZip(name, '1.0.0');
    await withVars({ PACKAGE_MAX_BYTES: String(zip.length - 1) }, async () => {
      expectError(await putPackage(u.token, name, '1.0.0', zip), 413, 'Payload too large');
      const stream = new ReadableStream({
        start(ctrl) {
          ctrl.enqueue(zip.subarray(0, 100));
          ctrl.enqueue(zip.subarray(100));
          ctrl.close();
        },
      });
      expectError(await putPackage(u.token, name, '1.0.0', stream), 413, 'Payload too large');
    });
    expect(await r2Keys(name)).toEqual([]);
    // Exactly at the cap is fine.
    await withVars({ PACKAGE_MAX_BYTES: String(zip.length) }, async () => {
      expect((await putPackage(u.token, name, '1.0.0', zip)).status).toBe(201);
    });
  });
});

describe('GET /agent/packages/:name', () => {
  it('lists versions newest first, paginated, with the highest semver as latest; any user may read', async () => {
    const [owner, reader] = [await newUser(), await newUser()];
    const name = uniqueName();
    for (const v of ['1.2.0', '1.10.0', '1.9.0-rc.1', '0.9.0']) await publish(owner.token, name, v);
    const first = await call('GET', `/agent/packages/${name}?limit=3`, { token: reader.token });
    expect(first.status).toBe(200);
    expect(first.json.package).toEqual({ name, latest_version: '1.10.0', created_at: expect.any(String) });
    expect(first.json.versions.map((v: any) => v.version)).toEqual(['0.9.0', '1.9.0-rc.1', '1.10.0']);
    expect(first.json.versions[0]).toHaveProperty('sha256');
    const second = await call('GET', `/agent/packages/${name}?limit=3&cursor=${first.json.next_cursor}`, { token: reader.token });
    expect(second.json.versions.map((v: any) => v.version)).toEqual(['1.2.0']);
    expect(second.json.next_cursor).toBeNull();
  });

  it('a pre-release of a higher version is the highest semver', async () => {
    const u = await newUser();
    const name = uniqueName();
    for (const v of ['1.0.0', '2.0.0-beta.2', '2.0.0-beta.10']) await publish(u.token, name, v);
    expect((await call('GET', `/agent/packages/${name}`, { token: u.token })).json.package.latest_version).toBe('2.0.0-beta.10');
  });

  it('404 for an unknown package; 400 for a bad cursor', async () => {
    const u = await newUser();
    expectError(await call('GET', `/agent/packages/${uniqueName()}`, { token: u.token }), 404, 'Package not found');
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    expectError(await call('GET', `/agent/packages/${name}?cursor=%%%`, { token: u.token }), 400, 'Invalid cursor');
  });
});

describe('GET /agent/packages/:name/:version/archive', () => {
  it('streams the zip with its sha256, type and file name; to any signed-in user', async () => {
    const [owner, reader] = [await newUser(), await newUser()];
    const name = uniqueName();
    const { bytes } = await publish(owner.token, name, '1.0.0');
    const res = await archive(reader.token, name, '1.0.0');
    expect(res.status).toBe(200);
    expect(res.bytes).toEqual(bytes);
    expect(res.headers.get('x-checksum-sha256')).toBe(await sha256(bytes));
    expect(res.headers.get('content-type')).toBe('application/zip');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${name}-1.0.0.zip"`);
  });

  it('404 for an unknown package or version', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    for (const [n, v] of [[name, '2.0.0'], [uniqueName(), '1.0.0']]) {
      const res = await archive(u.token, n, v);
      expect(res.status).toBe(404);
      expect(asJson(res.bytes).msg).toBe('Package version not found');
    }
  });

  it('fault injection (R2 object deleted through env.BUCKET): 500 archive_missing', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    await env.BUCKET.delete((await versionRow(name, '1.0.0'))!.r2_key);
    const res = await archive(u.token, name, '1.0.0');
    expect(res.status).toBe(500);
    expect(asJson(res.bytes)).toMatchObject({ code: 'archive_missing', msg: 'Package archive is missing from storage' });
  });

  it('fault injection (R2 object overwritten through env.BUCKET, with and without a sha256): 500 checksum_mismatch', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    const key = (await versionRow(name, '1.0.0'))!.r2_key;
    const other = packageZip(name, '1.0.0', { over: { description: 'tampered' } });
    for (const opts of [{}, { sha256: await sha256(other) }]) {
      await env.BUCKET.put(key, other, opts);
      const res = await archive(u.token, name, '1.0.0');
      expect(res.status).toBe(500);
      expect(asJson(res.bytes)).toMatchObject({ code: 'checksum_mismatch', msg: 'Package archive failed its checksum' });
    }
  });
});

describe('registry auth', () => {
  it('every registry route: 401 without a token and with a bad one', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    const zip = packageZip(name, '2.0.0');
    expectError(await putPackage(undefined, name, '2.0.0', zip), 401, 'Missing Authorization Header');
    expectError(await putPackage(undefined, name, '2.0.0', zip, { authorization: 'Bearer nope' }), 401, 'Invalid token');
    for (const path of [`/agent/packages/${name}`, `/agent/packages/${name}/1.0.0/archive`]) {
      expectError(await call('GET', path), 401, 'Missing Authorization Header');
      expectError(await call('GET', path, { token: 'nope' }), 401, 'Invalid token');
    }
    expect(await versionRow(name, '2.0.0')).toBeNull();
  });
});
