import { getDb } from '../db/client';
import { purgeExpiredSessions } from '../auth/queries';
import { purgeLoginAttempts } from '../users/queries';
import { config } from '../lib/config';
import { runCleanupJobs } from '../outbox/outbox';
import { runDueProcesses } from '../processes/cron';

const DAY = 24 * 3600 * 1000;

/** Purges expired refresh tokens, sessions and login windows. Idempotent. */
export async function purgeExpired(env: Env) {
  const db = getDb(env);
  const now = Date.now();
  await purgeExpiredSessions(db, now, DAY);
  await purgeLoginAttempts(db, now, config(env).loginWindow * 1000);
}

/** The cron trigger (every minute): each job runs even when another fails. */
export async function scheduled(_controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
  const jobs: [string, () => Promise<unknown>][] = [
    ['purge-expired', () => purgeExpired(env)],
    ['cleanup-jobs', () => runCleanupJobs(env)],
    ['processes', () => runDueProcesses(env)],
  ];
  const results = await Promise.allSettled(jobs.map(([, run]) => run()));
  results.forEach((r, i) => {
    if (r.status === 'rejected') console.error(JSON.stringify({ msg: 'cron job failed', job: jobs[i][0], error: String(r.reason) }));
  });
}
