// `wrangler dev` the way every phase runs it: 127.0.0.1, a free port, a throwaway --persist-to
// directory and --var overrides, with local D1 migrations applied first.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { freePort, run, sleep, start, stop } from '../../scripts/lib/proc.mjs';
import { devProcesses } from './procs.mjs';

export const ROOT = resolve(import.meta.dirname, '../..');
export const OUT = join(ROOT, 'bench/out');
export const WRANGLER = join(ROOT, 'node_modules/.bin/wrangler');
const quietEnv = { WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', CI: '1' };

/** Limits that would otherwise measure the limiter instead of the path, and a cheap KDF. */
export const BENCH_VARS = {
  RATE_LIMIT_PER_MINUTE: '100000000',
  MESSAGE_RATE_LIMIT: '100000000',
  // The chat object keeps each sender's message times in the window, up to MESSAGE_RATE_LIMIT
  // of them (production: 20); with a limit this high, a 1 s window keeps that list to the last
  // second's messages instead of the whole run's.
  MESSAGE_RATE_WINDOW_SECONDS: '1',
  LOGIN_MAX_FAILURES: '1000000',
  PASSWORD_SCRYPT_N: '1024',
  PASSWORD_SCRYPT_R: '1',
  PASSWORD_SCRYPT_P: '1',
};

/**
 * Throwaway secrets for a run, passed in wrangler's environment (where it looks for `[secrets]
 * required`); the bench configs live in bench/out/, so the repo's .dev.vars is never read.
 */
export const SECRETS = {
  JWT_SECRET: randomBytes(32).toString('base64url'),
  LINK_SECRET: randomBytes(32).toString('base64url'),
};

export const wrangler = (args, opts = {}) => run(WRANGLER, args, { cwd: ROOT, env: quietEnv, ...opts });

/** A fresh state directory under bench/out/ (removed first, so runs start clean). */
export function freshState(name) {
  const dir = join(OUT, 'state', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function applyMigrations(persistTo, config) {
  await wrangler(['d1', 'migrations', 'apply', 'DB', '--local', '--persist-to', persistTo, '--config', config]);
}

/** Runs a .sql file against the local D1 of `persistTo`. */
export async function executeSql(persistTo, config, file) {
  await wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', persistTo, '--config', config, '--file', file, '--yes']);
}

/**
 * Starts `wrangler dev` and waits until `readyPath` answers. Returns { url, port, inspectorPort,
 * procs, stop }: `procs` (lib/procs.mjs) holds the pids of wrangler's Node process, its proxy's
 * workerd and the Worker's workerd, and `directUrl`, the Worker's own port behind the proxy (null
 * where /proc cannot tell). `config` defaults to the project's wrangler.toml.
 */
export async function startDev({ name, persistTo, vars = {}, secrets = {}, config, readyPath = '/ping', timeoutMs = 90_000 }) {
  const port = await freePort();
  const inspector = await freePort();
  const args = ['dev', '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector)];
  if (config) args.push('--config', config);
  if (persistTo) args.push('--persist-to', persistTo);
  for (const [k, v] of Object.entries(vars)) args.push('--var', `${k}:${v}`);
  mkdirSync(OUT, { recursive: true });
  const log = createWriteStream(join(OUT, `${name}.log`));
  const child = start(WRANGLER, args, { cwd: ROOT, env: { ...quietEnv, ...secrets }, log });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev (${name}) exited early; see bench/out/${name}.log`);
    try {
      const res = await fetch(url + readyPath);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop(child);
      throw new Error(`wrangler dev (${name}) not ready in ${timeoutMs} ms; see bench/out/${name}.log`);
    }
    await sleep(250);
  }
  const procs = await devProcesses(child.pid, port, readyPath).catch((err) => {
    console.warn(`wrangler dev (${name}): ${err.message}`);
    return null;
  });
  return { url, port, inspectorPort: inspector, procs, stop: () => stop(child) };
}
