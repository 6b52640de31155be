// Starts the Worker under `wrangler dev` on a free port with a fresh local state, for the
// browser test. Resolves once /ping answers; `await stop()` ends wrangler and its workerd
// (their whole process group: workerd outlives a SIGTERM to wrangler alone).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, run, start, stop as stopChild } from '../scripts/lib/proc.mjs';

const WRANGLER = join(import.meta.dirname, '../node_modules/.bin/wrangler');
const quiet = { CI: 'true', WRANGLER_SEND_METRICS: 'false' };

/** @param {{ vars?: Record<string, string> }} [opts] */
export async function startWorker(opts = {}) {
  const port = await freePort();
  // Its own inspector port too: another `wrangler dev` (a bench, a second checkout) may hold the default 9229.
  const inspectorPort = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'agentedge-e2e-'));
  const envFile = join(state, '.dev.vars');
  writeFileSync(envFile, 'JWT_SECRET=e2e-jwt-secret-0123456789abcdef0123456789\nLINK_SECRET=e2e-link-secret-0123456789abcdef012345678\n');
  const persist = ['--persist-to', join(state, 'data')];
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  // The migrations are applied while `wrangler dev` starts (each takes seconds): the dev server
  // opens the database on its first query, and nothing queries it before both are done.
  const migrated = run(WRANGLER, ['d1', 'migrations', 'apply', 'DB', '--local', ...persist], { env: quiet });
  const child = start(WRANGLER, ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspectorPort), '--env-file', envFile, ...persist, ...vars], { env: quiet });
  try {
    await migrated;
  } catch (err) {
    await stopChild(child);
    rmSync(state, { recursive: true, force: true });
    throw err;
  }
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/ping`)).ok) return { url, stop, log: () => log, api: (method, path, opts) => api(url, method, path, opts) };
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  await stop();
  throw new Error(`wrangler dev did not start:\n${log}`);
}

/** A JSON request to the Worker: `{ status, json, text }` (json: {} for an empty body). */
async function api(url, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : {}, text };
}
