import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { linkPath } from '../src/files/signed-link';
import { BASE, call, expectError, newUser, withVars } from './helpers';
import { jsonOf, makeFile, r2Key, send } from './files-fixtures';

const CONTENT = 'hello world';

async function setup(filename = 'notes.txt') {
  const [u, other] = [await newUser(), await newUser()];
  const f = await makeFile(u.token, CONTENT, { filename, contentType: 'text/html' });
  return { u, other, f, dl: `/files/${f.file_id}/download` };
}

/** The path and query of a signed URL from GET /files/{id}/url. */
async function signedPath(token: string, fileId: string, query = '') {
  const res = await call('GET', `/files/${fileId}/url${query}`, { token });
  expect(res.status, JSON.stringify(res.json)).toBe(200);
  expect(res.json.url.startsWith(BASE)).toBe(true);
  return { path: res.json.url.slice(BASE.length) as string, expiresAt: res.json.expires_at as string };
}

describe('GET /files/{file_id}/download', () => {
  it('streams the file as an attachment with nosniff, ETag and Accept-Ranges', async () => {
    const { u, f, dl } = await setup("€ report (final)'s.html");
    const res = await send('GET', dl, { token: u.token });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(CONTENT);
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="_ report (final)'s.html"; filename*=UTF-8''%E2%82%AC%20report%20%28final%29%27s.html`,
    );
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-type')).toBe('text/html');
    expect(res.headers.get('etag')).toBe(`"${f.sha256}"`);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(CONTENT.length));
    expect(res.headers.get('content-security-policy')).toContain('sandbox');
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });

  it('answers ranges with 206 and Content-Range, suffix and open-ended too; 416 out of bounds', async () => {
    const { u, dl } = await setup();
    const get = (range: string, extra: Record<string, string> = {}) => send('GET', dl, { token: u.token, headers: { range, ...extra } });
    const first = await get('bytes=0-4');
    expect(first.status).toBe(206);
    expect(first.headers.get('content-range')).toBe('bytes 0-4/11');
    expect(first.headers.get('content-length')).toBe('5');
    expect(await first.text()).toBe('hello');
    const suffix = await get('bytes=-5');
    expect([suffix.status, suffix.headers.get('content-range'), await suffix.text()]).toEqual([206, 'bytes 6-10/11', 'world']);
    const open = await get('bytes=6-');
    expect([open.status, await open.text()]).toEqual([206, 'world']);
    const past = await get('bytes=3-999');
    expect([past.headers.get('content-range'), await past.text()]).toEqual(['bytes 3-10/11', 'lo world']);
    const several = await get('bytes=0-1,3-4');
    expect([several.status, await several.text()]).toEqual([200, CONTENT]);
    const bad = await jsonOf(await get('bytes=11-'));
    expectError(bad, 416, 'Range not satisfiable');
    expect(bad.headers.get('content-range')).toBe('bytes */11');
  });

  it('honours If-None-Match (304) and If-Range (range only for the same ETag)', async () => {
    const { u, f, dl } = await setup();
    const etag = `"${f.sha256}"`;
    const notModified = await send('GET', dl, { token: u.token, headers: { 'if-none-match': `"other", W/${etag}` } });
    expect(notModified.status).toBe(304);
    expect(notModified.headers.get('etag')).toBe(etag);
    expect(await notModified.text()).toBe('');
    const changed = await send('GET', dl, { token: u.token, headers: { 'if-none-match': '"other"' } });
    expect([changed.status, await changed.text()]).toEqual([200, CONTENT]);
    const same = await send('GET', dl, { token: u.token, headers: { range: 'bytes=0-4', 'if-range': etag } });
    expect([same.status, await same.text()]).toEqual([206, 'hello']);
    const stale = await send('GET', dl, { token: u.token, headers: { range: 'bytes=0-4', 'if-range': '"stale"' } });
    expect([stale.status, await stale.text()]).toEqual([200, CONTENT]);
  });

  it("404s another user's or an unknown file, or one whose object is gone; 401s without a good token", async () => {
    const { u, other, f, dl } = await setup();
    expectError(await jsonOf(await send('GET', dl, { token: other.token })), 404, 'File not found');
    expectError(await jsonOf(await send('GET', '/files/nope/download', { token: u.token })), 404, 'File not found');
    expectError(await jsonOf(await send('GET', dl)), 401, 'Missing Authorization Header');
    expectError(await jsonOf(await send('GET', dl, { token: 'bad' })), 401, 'Invalid token');
    await env.BUCKET.delete(r2Key(u.userId, f.file_id));
    expectError(await jsonOf(await send('GET', dl, { token: u.token })), 404, 'File not found');
  });
});

describe('signed links', () => {
  it('download without a token, with ranges, valid for SIGNED_LINK_TTL_SECONDS by default', async () => {
    const { u, f } = await setup();
    const before = Date.now();
    const { path, expiresAt } = await signedPath(u.token, f.file_id);
    expect(Date.parse(expiresAt) - before).toBeGreaterThan(3590_000);
    expect(Date.parse(expiresAt) - before).toBeLessThanOrEqual(3601_000);
    const res = await send('GET', path);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toContain('attachment');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(await res.text()).toBe(CONTENT);
    const ranged = await send('GET', path, { headers: { range: 'bytes=-5' } });
    expect([ranged.status, ranged.headers.get('content-range'), await ranged.text()]).toEqual([206, 'bytes 6-10/11', 'world']);
    await withVars({ SIGNED_LINK_TTL_SECONDS: '120' }, async () => {
      const short = await signedPath(u.token, f.file_id);
      expect(Date.parse(short.expiresAt) - Date.now()).toBeLessThanOrEqual(121_000);
    });
    const week = await signedPath(u.token, f.file_id, '?expires_in=604800');
    expect(Date.parse(week.expiresAt) - Date.now()).toBeGreaterThan(604_000_000);
  });

  it('refuses expires_in past 7 days or below 1 second, and other users or no token', async () => {
    const { u, other, f } = await setup();
    const msg = 'expires_in must be an integer between 1 and 604800 seconds';
    for (const q of ['604801', '0', '-5', '1.5', 'soon']) {
      expectError(await call('GET', `/files/${f.file_id}/url?expires_in=${q}`, { token: u.token }), 400, msg);
    }
    expectError(await call('GET', `/files/${f.file_id}/url`, { token: other.token }), 404, 'File not found');
    expectError(await call('GET', '/files/nope/url', { token: u.token }), 404, 'File not found');
    expectError(await call('GET', `/files/${f.file_id}/url`), 401, 'Missing Authorization Header');
    expectError(await call('GET', `/files/${f.file_id}/url`, { token: 'bad' }), 401, 'Invalid token');
  });

  it('403s once expired (a correctly signed past expiry)', async () => {
    const { f } = await setup();
    const past = Math.floor(Date.now() / 1000) - 1;
    expectError(await jsonOf(await send('GET', await linkPath(env, f.file_id, past))), 403, 'Link has expired');
    const future = Math.floor(Date.now() / 1000) + 60;
    expect((await send('GET', await linkPath(env, f.file_id, future))).status).toBe(200);
  });

  it('403s a link whose file id, expiry or signature was altered, or that lacks either', async () => {
    const { u, f } = await setup();
    const sibling = await makeFile(u.token, 'another file of the same user');
    const { path } = await signedPath(u.token, f.file_id);
    const url = new URL(BASE + path);
    const expires = url.searchParams.get('expires')!;
    const signature = url.searchParams.get('signature')!;
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    const altered = [
      `/files/${sibling.file_id}/content?expires=${expires}&signature=${signature}`,
      `/files/${f.file_id}/content?expires=${Number(expires) + 1}&signature=${signature}`,
      `/files/${f.file_id}/content?expires=${expires}&signature=${flipped}`,
      `/files/${f.file_id}/content?expires=${expires}&signature=${signature.slice(0, -2)}`,
      `/files/${f.file_id}/content?expires=${expires}&signature=not*base64`,
      `/files/${f.file_id}/content?expires=${expires}`,
      `/files/${f.file_id}/content?signature=${signature}`,
      `/files/${f.file_id}/content`,
    ];
    for (const p of altered) expectError(await jsonOf(await send('GET', p)), 403, 'Invalid link signature');
    // A bearer token does not stand in for the signature.
    expectError(await jsonOf(await send('GET', `/files/${f.file_id}/content`, { token: u.token })), 403, 'Invalid link signature');
    expect((await send('GET', path)).status).toBe(200);
  });

  it('is documented as a signed-link route that needs no bearer token', async () => {
    const doc = await call('GET', '/openapi.json');
    const op = doc.json.paths['/files/{file_id}/content'].get;
    expect(op['x-auth']).toBe('signed-link');
    expect(op.security).toEqual([]);
    expect(doc.json.paths['/files/{file_id}/url'].get['x-auth']).toBe('bearer');
  });

  it("404s a valid link once the file is deleted", async () => {
    const { u, f } = await setup();
    const { path } = await signedPath(u.token, f.file_id);
    expect((await call('DELETE', `/files/${f.file_id}`, { token: u.token })).status).toBe(200);
    expectError(await jsonOf(await send('GET', path)), 404, 'File not found');
  });
});
