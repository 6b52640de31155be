// The Worker under test is a snapshot: `wrangler dev` watches its sources and reloads on every
// edit (dropping every WebSocket), so the run bundles once (`wrangler deploy --dry-run`, the same
// build a deploy uploads) and serves that bundle with --no-bundle from a config in bench/out/.
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { OUT, ROOT, wrangler } from './wrangler.mjs';

export const BUNDLE_DIR = join(OUT, 'bundle');

/** Builds the bundle and writes bench/out/worker/wrangler.toml; returns { config, buildLog }. */
export async function snapshotWorker() {
  rmSync(BUNDLE_DIR, { recursive: true, force: true });
  const buildLog = await wrangler(['deploy', '--dry-run', '--outdir', BUNDLE_DIR]);
  return { config: workerConfig('worker', BUNDLE_DIR), buildLog };
}

/** wrangler.toml's compatibility_flags. */
export function configFlags() {
  const line = /^compatibility_flags = (.*)$/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'));
  return line ? JSON.parse(line[1]) : [];
}

/**
 * A config serving `bundleDir` (a bundle this script built, maybe saved from an earlier run: see
 * BENCH_SAVE_BUNDLE in run.mjs) from bench/out/<name>/wrangler.toml; returns its path. `flags`,
 * if given, replaces wrangler.toml's compatibility_flags.
 */
export function workerConfig(name, bundleDir, { flags } = {}) {
  const dir = join(OUT, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // The chat page's assets too: wrangler also reloads when public/ changes.
  cpSync(join(ROOT, 'public'), join(dir, 'public'), { recursive: true });
  const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8')
    .replace(/^main = .*$/m, `main = ${JSON.stringify(join(resolve(ROOT, bundleDir), 'index.js'))}\nno_bundle = true`)
    .replace(/^migrations_dir = .*$/m, `migrations_dir = ${JSON.stringify(join(ROOT, 'migrations'))}`)
    .replace(/^directory = .*$/m, `directory = "./public"`)
    .replace(/^compatibility_flags = .*$/m, (line) => (flags ? `compatibility_flags = ${JSON.stringify(flags)}` : line));
  if (flags && !toml.includes(`compatibility_flags = ${JSON.stringify(flags)}`)) throw new Error('wrangler.toml has no `compatibility_flags =` line to replace');
  if (!toml.includes('no_bundle = true')) throw new Error('wrangler.toml has no `main =` line to replace');
  const config = join(dir, 'wrangler.toml');
  writeFileSync(config, toml);
  return config;
}

/**
 * The bare Worker, copied to bench/out/bare/ (so wrangler's own .wrangler/ lands there), with the
 * same [assets] as ours: both then pay for the assets router in front of the Worker, and the
 * comparison isolates our Worker's code.
 */
export function snapshotBare() {
  const dir = join(OUT, 'bare');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync(join(ROOT, 'bench/bare-worker.js'), join(dir, 'bare-worker.js'));
  const toml = readFileSync(join(ROOT, 'bench/bare-wrangler.toml'), 'utf8');
  writeFileSync(join(dir, 'wrangler.toml'), `${toml}\n[assets]\ndirectory = ${JSON.stringify(join(OUT, 'worker/public'))}\n`);
  return join(dir, 'wrangler.toml');
}
