import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { captureErrorLog } from './error-log';
import { call, expectError, newUser } from './helpers';
import { makeTask, makeWorkspace } from './tasks-fixtures';
import { count, eventually, makeFile, r2Key } from './files-fixtures';

const jobCount = (key: string) => count('SELECT count(*) AS n FROM cleanup_jobs WHERE id = ?', `r2_object:${key}`);

describe('GET /files and GET /files/{file_id}', () => {
  it('lists newest first across pages, filtered by task and workspace, only the caller’s', async () => {
    const [u, other] = [await newUser(), await newUser()];
    const ws = await makeWorkspace(u);
    const task = await makeTask(u);
    const a = await makeFile(u.token, 'a');
    const b = await makeFile(u.token, 'b', { query: `?workspace_id=${ws}` });
    const c = await makeFile(u.token, 'c', { query: `?task_id=${task.task_id}` });
    await makeFile(other.token, 'theirs');
    const first = await call('GET', '/files?limit=2', { token: u.token });
    expect(first.status).toBe(200);
    expect(first.json.files.map((f: any) => f.file_id)).toEqual([c.file_id, b.file_id]);
    const second = await call('GET', `/files?limit=2&cursor=${first.json.next_cursor}`, { token: u.token });
    expect(second.json).toEqual({ files: [a], next_cursor: null });
    expect((await call('GET', `/files?workspace_id=${ws}`, { token: u.token })).json.files).toEqual([b]);
    expect((await call('GET', `/files?task_id=${task.task_id}`, { token: u.token })).json.files).toEqual([c]);
    expect((await call('GET', `/files?workspace_id=${ws}`, { token: other.token })).json.files).toEqual([]);
    expectError(await call('GET', '/files?cursor=%%%', { token: u.token }), 400, 'Invalid cursor');
    expectError(await call('GET', '/files?limit=0', { token: u.token }), 400, 'limit must be an integer between 1 and 100');
    expectError(await call('GET', '/files'), 401, 'Missing Authorization Header');
    expectError(await call('GET', '/files', { token: 'bad' }), 401, 'Invalid token');
  });

  it("answers one file, and 404s another user's, an unknown or a malformed id", async () => {
    const [u, other] = [await newUser(), await newUser()];
    const f = await makeFile(u.token);
    expect((await call('GET', `/files/${f.file_id}`, { token: u.token })).json).toEqual({ file: f });
    expectError(await call('GET', `/files/${f.file_id}`, { token: other.token }), 404, 'File not found');
    expectError(await call('GET', '/files/00000000-0000-7000-8000-000000000000', { token: u.token }), 404, 'File not found');
    expectError(await call('GET', '/files/not-an-id', { token: u.token }), 404, 'File not found');
    expectError(await call('GET', `/files/${f.file_id}`), 401, 'Missing Authorization Header');
    expectError(await call('GET', `/files/${f.file_id}`, { token: 'bad' }), 401, 'Invalid token');
  });
});

describe('DELETE /files/{file_id}', () => {
  it('deletes the row and then the R2 object', async () => {
    const [u, other] = [await newUser(), await newUser()];
    const f = await makeFile(u.token);
    const key = r2Key(u.userId, f.file_id);
    expectError(await call('DELETE', `/files/${f.file_id}`, { token: other.token }), 404, 'File not found');
    expectError(await call('DELETE', `/files/${f.file_id}`), 401, 'Missing Authorization Header');
    expectError(await call('DELETE', `/files/${f.file_id}`, { token: 'bad' }), 401, 'Invalid token');
    expect(await env.BUCKET.head(key)).not.toBeNull();
    const res = await call('DELETE', `/files/${f.file_id}`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'File deleted' });
    expectError(await call('GET', `/files/${f.file_id}`, { token: u.token }), 404, 'File not found');
    await eventually(async () => (await env.BUCKET.head(key)) === null && (await jobCount(key)) === 0);
    expectError(await call('DELETE', `/files/${f.file_id}`, { token: u.token }), 404, 'File not found');
  });

  it('leaves a job for the sweep when the R2 delete fails (fault injection: BUCKET.delete throws)', async () => {
    const u = await newUser();
    const f = await makeFile(u.token);
    const key = r2Key(u.userId, f.file_id);
    const original = env.BUCKET;
    (env as any).BUCKET = new Proxy(original, {
      get(target, prop) {
        if (prop === 'delete') return async () => Promise.reject(new Error('injected R2 delete failure'));
        const v = Reflect.get(target, prop);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const log = captureErrorLog();
    try {
      const res = await call('DELETE', `/files/${f.file_id}`, { token: u.token });
      expect(res.status).toBe(200);
      // The immediate attempt failed and was recorded (attempts 1, run_after pushed back), and logged.
      await eventually(async () => (await count('SELECT attempts AS n FROM cleanup_jobs WHERE id = ?', `r2_object:${key}`).catch(() => 0)) === 1);
      expect(log.entries()).toEqual([{ msg: 'cleanup failed', job: `r2_object:${key}`, error: 'Error: injected R2 delete failure' }]);
    } finally {
      (env as any).BUCKET = original;
    }
    expectError(await call('GET', `/files/${f.file_id}`, { token: u.token }), 404, 'File not found');
    expect(await env.BUCKET.head(key)).not.toBeNull();
    // The backoff passes (moved, not slept) and the cron's sweep removes the object.
    await env.DB.prepare('UPDATE cleanup_jobs SET run_after = 0 WHERE id = ?').bind(`r2_object:${key}`).run();
    const { runCleanupJobs } = await import('../src/outbox/outbox');
    expect((await runCleanupJobs(env)).done).toBeGreaterThanOrEqual(1);
    expect(await env.BUCKET.head(key)).toBeNull();
    expect(await jobCount(key)).toBe(0);
  });

  it("deleting a workspace removes its files' rows and R2 objects; deleting a task unlinks its files", async () => {
    const u = await newUser();
    const ws = await makeWorkspace(u);
    const f = await makeFile(u.token, 'in workspace', { query: `?workspace_id=${ws}` });
    const keep = await makeFile(u.token, 'elsewhere');
    const task = await makeTask(u);
    const onTask = await makeFile(u.token, 'on task', { query: `?task_id=${task.task_id}` });
    expect((await call('DELETE', `/workspace/${ws}`, { token: u.token })).status).toBe(200);
    expectError(await call('GET', `/files/${f.file_id}`, { token: u.token }), 404, 'File not found');
    await eventually(async () => (await env.BUCKET.head(r2Key(u.userId, f.file_id))) === null);
    expect(await env.BUCKET.head(r2Key(u.userId, keep.file_id))).not.toBeNull();
    expect((await call('DELETE', `/tasks/${task.task_id}`, { token: u.token })).status).toBe(200);
    expect((await call('GET', `/files/${onTask.file_id}`, { token: u.token })).json.file).toMatchObject({ task_id: null });
  });
});
