/**
 * The one scheduled entry point (wrangler.toml's cron trigger, every minute). Each job is one
 * function of `(env)`, idempotent, from the area that owns its data; every job runs even when
 * another fails.
 */
import { getDb } from '../db/client';
import { purgeExpiredSessions, purgeLoginAttempts } from '../auth/queries';
import { config } from '../lib/config';
import { runCleanupJobs } from '../outbox/outbox';
import { runDueProcesses } from '../processes/cron';

const DAY = 24 * 3600 * 1000;

// The auth area's purges are queries taking `db`; these adapt them to jobs.
/** Expired refresh tokens and sessions, and sessions revoked more than a day ago. */
const purgeSessions = (env: Env) => purgeExpiredSessions(getDb(env), Date.now(), DAY);
/** Login-attempt windows that have ended. */
const purgeLogins = (env: Env) => purgeLoginAttempts(getDb(env), Date.now(), config(env).loginWindow * 1000);

const JOBS: [name: string, job: (env: Env) => Promise<unknown>][] = [
  ['purge-sessions', purgeSessions],
  ['purge-login-attempts', purgeLogins],
  ['cleanup-jobs', (env) => runCleanupJobs(env)],
  ['processes', runDueProcesses],
];

export async function scheduled(_controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
  const results = await Promise.allSettled(JOBS.map(([, job]) => job(env)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') console.error(JSON.stringify({ msg: 'cron job failed', job: JOBS[i][0], error: String(r.reason) }));
  });
}
