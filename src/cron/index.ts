/**
 * The one scheduled entry point (wrangler.toml's cron trigger, every minute). Each job is one
 * function of `(env)`, idempotent, from the area that owns its data; every job runs even when
 * another fails.
 */
import { getDb } from '../db/client';
import { expireApprovals } from '../approvals/service';
import { purgeExpiredSessions, purgeLoginAttempts } from '../auth/queries';
import { config } from '../lib/config';
import { runCleanupJobs } from '../outbox/outbox';
import { runDueProcesses } from '../processes/cron';
import { sweepStaleRuns } from '../runs/queries';

const DAY = 24 * 3600 * 1000;
/** How long past LLM_MAX_RUN_MS a live run may go unwritten before the sweep calls its object dead. */
export const RUN_SWEEP_GRACE_MS = 120_000;

// The auth area's purges are queries taking `db`; these adapt them to jobs.
/** Expired refresh tokens and sessions, and sessions revoked more than a day ago. */
const purgeSessions = (env: Env) => purgeExpiredSessions(getDb(env), Date.now(), DAY);
/** Login-attempt windows that have ended. */
const purgeLogins = (env: Env) => purgeLoginAttempts(getDb(env), Date.now(), config(env).loginWindow * 1000);
/**
 * Live runs not written for LLM_MAX_RUN_MS + 2 minutes become failed `run_interrupted`. The chat's
 * object finishes its runs itself (and retries from its alarm); this catches objects that died.
 */
const sweepRuns = (env: Env) => {
  const now = Date.now();
  return sweepStaleRuns(getDb(env), now - config(env).llm.maxRunMs - RUN_SWEEP_GRACE_MS, now);
};

const JOBS: [name: string, job: (env: Env) => Promise<unknown>][] = [
  ['purge-sessions', purgeSessions],
  ['purge-login-attempts', purgeLogins],
  ['cleanup-jobs', (env) => runCleanupJobs(env)],
  ['processes', runDueProcesses],
  ['sweep-runs', sweepRuns],
  // Pending approvals past expires_at become expired; run-linked ones tell their chat's object.
  ['expire-approvals', (env) => expireApprovals(env)],
];

export async function scheduled(_controller: ScheduledController, env: Env, _ctx: ExecutionContext) {
  const results = await Promise.allSettled(JOBS.map(([, job]) => job(env)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') console.error(JSON.stringify({ msg: 'cron job failed', job: JOBS[i][0], error: String(r.reason) }));
  });
}
