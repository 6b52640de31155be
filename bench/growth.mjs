// Growth phase: one user per size (1,000 and 100,000 tasks and chats), rows loaded with SQL,
// then the p50 of each list endpoint, and EXPLAIN QUERY PLAN of the same queries.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { call, newUser } from './lib/api.mjs';
import { median, round } from './lib/stats.mjs';
import { OUT, executeSql, wrangler } from './lib/wrangler.mjs';
import { explainSql, growthEndpoints, growthSql } from './growth-sql.mjs';

export const GROWTH_SIZES = [1_000, 100_000];
export const GROWTH_WARMUP = 3;
export const GROWTH_SAMPLES = 25;

const userIdOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sub;

/** Registers one user (with a workspace) per size, through the API. */
export async function growthUsers(url) {
  const users = [];
  for (const [userIndex, size] of GROWTH_SIZES.entries()) {
    const u = await newUser(url);
    users.push({ ...u, userId: userIdOf(u.token), size, userIndex });
  }
  return users;
}

/** Writes one .sql file for all users and runs it against the local D1 (wrangler dev stopped). */
export async function loadGrowth(persistTo, config, users) {
  const file = join(OUT, 'growth.sql');
  writeFileSync(file, users.map(growthSql).join('\n'));
  const started = performance.now();
  await executeSql(persistTo, config, file);
  return round((performance.now() - started) / 1000, 1);
}

async function timed(url, path, token) {
  const started = performance.now();
  const body = await call(url, 'GET', path, { token });
  const ms = performance.now() - started;
  const list = body.tasks ?? body.chats;
  if (path !== '/ping' && (!Array.isArray(list) || list.length === 0)) throw new Error(`GET ${path} returned no rows`);
  return ms;
}

/**
 * { [label]: { [size]: p50 ms } }: per endpoint, a warm-up, then GROWTH_SAMPLES rounds that ask each
 * size in turn (so neither size gets the quieter moments of a shared machine).
 */
export async function measureGrowth(url, users) {
  const out = {};
  const endpoints = users.map((u) => growthEndpoints(u.workspaceId, u.size));
  for (const [e, [label]] of endpoints[0].entries()) {
    const samples = users.map(() => []);
    for (let i = 0; i < GROWTH_WARMUP + GROWTH_SAMPLES; i++) {
      for (const [k, user] of users.entries()) {
        const ms = await timed(url, endpoints[k][e][1], user.token);
        if (i >= GROWTH_WARMUP) samples[k].push(ms);
      }
    }
    out[label] = Object.fromEntries(users.map((u, k) => [u.size, round(median(samples[k]), 2)]));
  }
  return out;
}

/** { [label]: plan text } for the largest user: one `wrangler d1 execute --command --json` call. */
export async function explainGrowth(persistTo, config, user) {
  const queries = explainSql(user);
  const command = queries.map(([, sql]) => `EXPLAIN QUERY PLAN ${sql}`).join(';\n');
  const out = await wrangler(['d1', 'execute', 'DB', '--local', '--persist-to', persistTo, '--config', config, '--json', '--command', command]);
  const results = JSON.parse(out.slice(out.indexOf('[')));
  return Object.fromEntries(queries.map(([label], i) => [label, results[i].results.map((r) => r.detail).join('; ')]));
}
