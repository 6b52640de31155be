import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { call, expectError, newUser, withVars } from './helpers';
import { makeTask, makeWorkspace } from './tasks-fixtures';
import { BOUNDARY, count, formBody, formType, jsonOf, makeFile, r2Key, send, sha256Of, upload, eventually } from './files-fixtures';

const enc = new TextEncoder();

/**
 * A valid form whose file is `size` zero bytes, made as it is read, counting what was pulled:
 * a route that settles ownership before reading leaves most of it unread (the transport only
 * buffers a little ahead), one that reads first pulls it all.
 */
function meteredForm(size = 2 * 1024 * 1024) {
  const head = formBody([{ name: 'file', filename: 'big.bin', content: '' }]);
  const [open, close] = [head.slice(0, head.length - BOUNDARY.length - 8), head.slice(head.length - BOUNDARY.length - 8)];
  const meter = { pulled: 0, size };
  let sent = -1;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      const chunk = sent === -1 ? open : sent >= size ? close : new Uint8Array(Math.min(64 * 1024, size - sent));
      sent = sent === -1 ? 0 : sent + (chunk === close ? 0 : chunk.length);
      meter.pulled += chunk.length;
      c.enqueue(chunk);
      if (chunk === close) c.close();
    },
  });
  return { stream, meter };
}

const jobCount = (key: string) => count('SELECT count(*) AS n FROM cleanup_jobs WHERE id = ?', `r2_object:${key}`);

describe('POST /files/upload', () => {
  it('streams the file part into R2 and answers 201 with its metadata', async () => {
    const u = await newUser();
    const res = await upload(u.token, 'hello world', { filename: 'notes.txt', contentType: 'text/plain' });
    expect(res.status).toBe(201);
    const f = res.json.file;
    expect(f).toEqual({
      file_id: expect.any(String),
      name: 'notes.txt',
      size: 11,
      content_type: 'text/plain',
      sha256: await sha256Of('hello world'),
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      task_id: null,
      workspace_id: null,
    });
    const obj = await env.BUCKET.get(r2Key(u.userId, f.file_id));
    expect(await obj!.text()).toBe('hello world');
    expect(obj!.httpMetadata?.contentType).toBe('text/plain');
    // The pending-upload job is gone in the same batch that inserted the row.
    expect(await jobCount(r2Key(u.userId, f.file_id))).toBe(0);
  });

  it('reads past extra fields before and after the file, and takes the first file part', async () => {
    const u = await newUser();
    const body = formBody([
      { name: 'metadata', content: '{"description":"Document for processing"}' },
      { name: 'file', filename: 'a.bin', contentType: 'application/octet-stream', content: new Uint8Array([0, 13, 10, 45, 45, 255]) },
      { name: 'file', filename: 'second.txt', content: 'ignored' },
      { name: 'trailer', content: 'x' },
    ]);
    const res = await jsonOf(await send('POST', '/files/upload', { token: u.token, body, headers: { 'content-type': formType() } }));
    expect(res.status).toBe(201);
    expect(res.json.file).toMatchObject({ name: 'a.bin', size: 6, sha256: await sha256Of(new Uint8Array([0, 13, 10, 45, 45, 255])) });
  });

  it('attaches to a task and a workspace, a task file landing in the task workspace', async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    const task = await makeTask(u, { workspace_id: ws });
    const inWs = await makeFile(u.token, 'w', { query: `?workspace_id=${ws}` });
    expect(inWs).toMatchObject({ workspace_id: ws, task_id: null });
    const onTask = await makeFile(u.token, 't', { query: `?task_id=${task.task_id}` });
    expect(onTask).toMatchObject({ workspace_id: ws, task_id: task.task_id });
    const other = await makeWorkspace(u);
    const res = await upload(u.token, 'x', { query: `?task_id=${task.task_id}&workspace_id=${other}` });
    expectError(res, 400, 'The task is not in that workspace');
  });

  it("404s another user's or an unknown task or workspace before reading the body", async () => {
    const [u, other] = [await newUser(), await newUser()];
    const ws = await makeWorkspace(other);
    const task = await makeTask(other);
    const cases: [string, string][] = [
      [`?workspace_id=${ws}`, 'Workspace not found'],
      ['?workspace_id=nope', 'Workspace not found'],
      [`?task_id=${task.task_id}`, 'Task not found'],
      ['?task_id=00000000-0000-7000-8000-000000000000', 'Task not found'],
    ];
    for (const [query, msg] of cases) {
      const { stream, meter } = meteredForm();
      const res = await jsonOf(await send('POST', `/files/upload${query}`, { token: u.token, body: stream, headers: { 'content-type': formType() } }));
      expectError(res, 404, msg);
      expect(meter.pulled, query).toBeLessThan(meter.size / 4);
    }
    // The same body to an owned target is read whole (so the meter can tell the two apart).
    const { stream, meter } = meteredForm();
    expect((await jsonOf(await send('POST', '/files/upload', { token: u.token, body: stream, headers: { 'content-type': formType() } }))).status).toBe(201);
    expect(meter.pulled).toBeGreaterThan(meter.size);
  });

  it('400s a form without a file part, an empty body, a wrong content type and a broken body', async () => {
    const u = await newUser();
    const post = (body: BodyInit | null, type: string) =>
      send('POST', '/files/upload', { token: u.token, body, headers: { 'content-type': type } }).then(jsonOf);
    expectError(await post(formBody([{ name: 'metadata', content: '{}' }]), formType()), 400, 'Missing file parameter');
    expectError(await post(null, formType()), 400, 'Missing file parameter');
    expectError(await post('{"file":"x"}', 'application/json'), 400, 'Content-Type must be multipart/form-data with a boundary');
    expectError(await post(formBody([{ name: 'file', content: 'x' }]), 'multipart/form-data'), 400, 'Content-Type must be multipart/form-data with a boundary');
    const truncated = formBody([{ name: 'file', filename: 'a.txt', content: 'abcdef' }]).slice(0, -20);
    const res = await post(truncated, formType());
    expectError(res, 400, 'Malformed multipart body: Multipart body ended inside a part');
    expect(await count('SELECT count(*) AS n FROM files WHERE user_id = ?', u.userId)).toBe(0);
    // The object a failed upload may have written is deleted right away, and its job with it.
    await eventually(async () => (await count("SELECT count(*) AS n FROM cleanup_jobs WHERE target LIKE ?", `files/${u.userId}/%`)) === 0);
  });

  it('413s past FILE_MAX_BYTES: early on Content-Length, and while streaming without one', async () => {
    const u = await newUser();
    await withVars({ FILE_MAX_BYTES: '1000' }, async () => {
      const { stream, meter } = meteredForm();
      const early = await jsonOf(
        await send('POST', '/files/upload', { token: u.token, body: stream, headers: { 'content-type': formType(), 'content-length': String(meter.size + 200) } }),
      );
      expectError(early, 413, 'Payload too large');
      expect(meter.pulled).toBeLessThan(meter.size / 4);
      const big = new Blob([formBody([{ name: 'file', filename: 'big.txt', content: 'x'.repeat(1001) }])]).stream();
      const streamed = await jsonOf(await send('POST', '/files/upload', { token: u.token, body: big, headers: { 'content-type': formType() } }));
      expectError(streamed, 413, 'Payload too large');
      const exact = await upload(u.token, 'x'.repeat(1000));
      expect(exact.status).toBe(201);
    });
    expect(await count('SELECT count(*) AS n FROM files WHERE user_id = ?', u.userId)).toBe(1);
    await eventually(async () => (await count("SELECT count(*) AS n FROM cleanup_jobs WHERE target LIKE ?", `files/${u.userId}/%`)) === 0);
  });

  it('413s a multipart upload that passes the limit after its first R2 part, and keeps no object', async () => {
    const u = await newUser();
    const size = 7 * 1024 * 1024;
    const body = formBody([{ name: 'file', filename: 'big.bin', content: new Uint8Array(size) }]);
    await withVars({ FILE_MAX_BYTES: String(6 * 1024 * 1024) }, async () => {
      const stream = new Blob([body]).stream();
      const res = await jsonOf(await send('POST', '/files/upload', { token: u.token, body: stream, headers: { 'content-type': formType() } }));
      expectError(res, 413, 'Payload too large');
    });
    const listed = await env.BUCKET.list({ prefix: `files/${u.userId}/` });
    expect(listed.objects).toHaveLength(0);
    await eventually(async () => (await count("SELECT count(*) AS n FROM cleanup_jobs WHERE target LIKE ?", `files/${u.userId}/%`)) === 0);
  });

  it('registers the R2 key for cleanup (run_after in an hour) before writing it (fault injection: BUCKET.put inspected, then fails)', async () => {
    const u = await newUser();
    const original = env.BUCKET;
    const seen: { key: string; runAfter: number | null }[] = [];
    (env as any).BUCKET = new Proxy(original, {
      get(target, prop) {
        if (prop === 'put') {
          return async (key: string) => {
            const row = await env.DB.prepare('SELECT run_after FROM cleanup_jobs WHERE id = ?').bind(`r2_object:${key}`).first<{ run_after: number }>();
            seen.push({ key, runAfter: row?.run_after ?? null });
            throw new Error('injected R2 failure');
          };
        }
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const log = captureErrorLog();
    try {
      const res = await upload(u.token, 'doomed');
      expectError(res, 500, 'Internal server error');
      expect(log.entries()).toEqual([{ request_id: res.json.request_id, error: 'Error: injected R2 failure', stack: expect.stringContaining('injected R2 failure') }]);
    } finally {
      (env as any).BUCKET = original;
    }
    expect(seen).toHaveLength(1);
    expect(seen[0].runAfter! - Date.now()).toBeGreaterThan(3500_000);
    expect(await count('SELECT count(*) AS n FROM files WHERE user_id = ?', u.userId)).toBe(0);
    await eventually(async () => (await jobCount(seen[0].key)) === 0);
  });

  it('404s and keeps nothing when the workspace is deleted while the file is arriving', async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    // A first chunk bigger than the transport buffers, so the second is pulled only once the
    // route is reading the body (past its ownership check).
    const head = formBody([{ name: 'file', filename: 'late.txt', content: new Uint8Array(2 * 1024 * 1024) }]);
    const cut = head.length - BOUNDARY.length - 8;
    let step = 0;
    const stream = new ReadableStream<Uint8Array>({
      async pull(c) {
        step++;
        if (step === 1) return c.enqueue(head.slice(0, cut));
        // Mid-upload, the owner deletes the workspace from another request.
        expect((await call('DELETE', `/workspace/${ws}`, { token: u.token })).status).toBe(200);
        c.enqueue(head.slice(cut));
        c.close();
      },
    });
    const res = await jsonOf(await send('POST', `/files/upload?workspace_id=${ws}`, { token: u.token, body: stream, headers: { 'content-type': formType() } }));
    expectError(res, 404, 'Workspace not found');
    expect(await count('SELECT count(*) AS n FROM files WHERE user_id = ?', u.userId)).toBe(0);
    await eventually(async () => (await env.BUCKET.list({ prefix: `files/${u.userId}/` })).objects.length === 0);
    await eventually(async () => (await count('SELECT count(*) AS n FROM cleanup_jobs WHERE target LIKE ?', `files/${u.userId}/%`)) === 0);
  });

  it('401s without a token or with a bad one', async () => {
    const body = formBody([{ name: 'file', filename: 'a', content: 'a' }]);
    expectError(await jsonOf(await send('POST', '/files/upload', { body, headers: { 'content-type': formType() } })), 401, 'Missing Authorization Header');
    expectError(await jsonOf(await send('POST', '/files/upload', { token: 'nope', body, headers: { 'content-type': formType() } })), 401, 'Invalid token');
  });
});

describe('PUT /files/upload', () => {
  const put = (token: string | undefined, query: string, body: BodyInit | null, headers: Record<string, string> = {}) =>
    send('PUT', `/files/upload${query}`, { token, body, headers }).then(jsonOf);

  it('stores the raw body under the given name and content type', async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    const bytes = enc.encode('raw body \r\n--not-a-boundary');
    const res = await put(u.token, `?name=${encodeURIComponent('résumé.txt')}&workspace_id=${ws}`, bytes, { 'content-type': 'text/plain; charset=UTF-8' });
    expect(res.status).toBe(201);
    expect(res.json.file).toMatchObject({ name: 'résumé.txt', size: bytes.length, content_type: 'text/plain; charset=utf-8', sha256: await sha256Of(bytes), workspace_id: ws });
    expect(await (await env.BUCKET.get(r2Key(u.userId, res.json.file.file_id)))!.text()).toBe('raw body \r\n--not-a-boundary');
    const empty = await put(u.token, '?name=empty.bin', new Uint8Array(0));
    expect(empty.status).toBe(201);
    expect(empty.json.file).toMatchObject({ size: 0, content_type: 'application/octet-stream', sha256: await sha256Of('') });
  });

  it('400s without a name, 411s without Content-Length, 413s past the limit, 404s a foreign workspace', async () => {
    const [u, other] = [await newUser(), await newUser()];
    expectError(await put(u.token, '', 'x'), 400, 'Missing name parameter');
    expectError(await put(u.token, '?name=', 'x'), 400, 'Missing name parameter');
    const stream = new ReadableStream({ start: (c) => (c.enqueue(enc.encode('x')), c.close()) });
    expectError(await put(u.token, '?name=a', stream), 411, 'Content-Length required');
    await withVars({ FILE_MAX_BYTES: '10' }, async () => {
      expectError(await put(u.token, '?name=a', 'x'.repeat(11)), 413, 'Payload too large');
    });
    expectError(await put(u.token, `?name=a&workspace_id=${await makeWorkspace(other)}`, 'x'), 404, 'Workspace not found');
    expectError(await put(undefined, '?name=a', 'x'), 401, 'Missing Authorization Header');
    expectError(await put('bad', '?name=a', 'x'), 401, 'Invalid token');
    expect(await count('SELECT count(*) AS n FROM files WHERE user_id = ?', u.userId)).toBe(0);
  });
});
