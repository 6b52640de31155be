// Size phase: the bundle `wrangler deploy --dry-run --outdir` produced (see lib/snapshot.mjs),
// raw and gzipped; and login time: the median wall time of POST /auth/login.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { login, register } from './lib/api.mjs';
import { BUNDLE_DIR } from './lib/snapshot.mjs';
import { median, round } from './lib/stats.mjs';

const kib = (bytes) => round(bytes / 1024, 1);

export function bundleSize(buildLog) {
  const js = readFileSync(join(BUNDLE_DIR, 'index.js'));
  const reported = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(buildLog);
  const gzipBytes = gzipSync(js, { level: 9 }).length;
  return {
    rawBytes: js.length,
    gzipBytes,
    rawKiB: kib(js.length),
    gzipKiB: kib(gzipBytes),
    wranglerReported: reported ? `${reported[1]} KiB / gzip ${reported[2]} KiB` : 'not printed',
  };
}

export const LOGINS = 10;

/** Registers a user, one warm-up login, then LOGINS timed logins, one at a time. */
export async function loginTime(url) {
  const email = await register(url);
  await login(url, email);
  const samples = [];
  for (let i = 0; i < LOGINS; i++) {
    const started = performance.now();
    await login(url, email);
    samples.push(performance.now() - started);
  }
  return { medianMs: round(median(samples), 1), minMs: round(Math.min(...samples), 1), maxMs: round(Math.max(...samples), 1) };
}
