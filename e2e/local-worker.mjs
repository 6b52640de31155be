// Starts the Worker under `wrangler dev` on a free port with a fresh local state, for the
// browser test and the benchmarks. Resolves once /ping answers; `stop()` ends it.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const freePort = () =>
  new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });

/** @param {{ vars?: Record<string, string> }} [opts] */
export async function startWorker(opts = {}) {
  const port = await freePort();
  const state = mkdtempSync(join(tmpdir(), 'agentedge-e2e-'));
  const envFile = join(state, '.dev.vars');
  writeFileSync(envFile, 'JWT_SECRET=e2e-jwt-secret-0123456789abcdef0123456789\nLINK_SECRET=e2e-link-secret-0123456789abcdef012345678\n');
  const persist = ['--persist-to', join(state, 'data')];
  const migrate = spawnSync('npx', ['wrangler', 'd1', 'migrations', 'apply', 'DB', '--local', ...persist], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  const vars = Object.entries(opts.vars ?? {}).flatMap(([k, v]) => ['--var', `${k}:${v}`]);
  const child = spawn('npx', ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', String(port), '--env-file', envFile, ...persist, ...vars], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
  });
  let log = '';
  child.stdout.on('data', (d) => (log += d));
  child.stderr.on('data', (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  const stop = () => {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    rmSync(state, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/ping`)).ok) return { url, stop, log: () => log };
    } catch {}
    await new Promise((r) => setTimeout(r, 300));
  }
  stop();
  throw new Error(`wrangler dev did not start:\n${log}`);
}
