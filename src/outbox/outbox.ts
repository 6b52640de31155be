/**
 * The outbox: cleanup work outside D1 (a chat's Durable Object, an R2 object), queued in the same
 * D1 batch as the change that makes it necessary, done right away when it can be, and otherwise
 * swept by the cron trigger with backoff. Every job is named `<kind>:<target>`, here only, so
 * queuing the same cleanup twice is one job.
 */
import { asc, eq, inArray, lte, sql } from 'drizzle-orm';
import { getDb, type Db } from '../db/client';
import { cleanupJobs } from '../db/schema';
import { chunk } from '../lib/chunk';

export type JobKind = (typeof cleanupJobs.$inferSelect)['kind'];
type Job = typeof cleanupJobs.$inferSelect;
const BATCH = 100;

export const jobId = (kind: JobKind, target: string) => `${kind}:${target}`;

/** A statement (for a batch) that queues a job to run from `runAfter` on; queuing again moves it. */
export const queueJob = (db: Db, kind: JobKind, target: string, now: number, runAfter = now) =>
  db
    .insert(cleanupJobs)
    .values({ id: jobId(kind, target), kind, target, attempts: 0, createdAt: now, runAfter })
    .onConflictDoUpdate({ target: cleanupJobs.id, set: { runAfter } });

/** A statement (for a batch) that drops a job: the work it would undo is now wanted. */
export const dropJob = (db: Db, kind: JobKind, target: string) => db.delete(cleanupJobs).where(eq(cleanupJobs.id, jobId(kind, target)));

/**
 * A raw D1 statement (for a batch) that queues one job per row: `targetSql` is the target column
 * of `fromSql` (a FROM ... WHERE clause whose parameters start at ?3). Returns the job ids.
 */
export const queueJobsFor = (d1: D1Database, kind: JobKind, targetSql: string, fromSql: string, now: number, ...binds: unknown[]) =>
  d1
    .prepare(
      `INSERT INTO cleanup_jobs (id, kind, target, attempts, created_at, run_after)
       SELECT ?1 || ':' || ${targetSql}, ?1, ${targetSql}, 0, ?2, ?2 ${fromSql}
       ON CONFLICT (id) DO UPDATE SET run_after = excluded.run_after RETURNING id`,
    )
    .bind(kind, now, ...binds);

async function perform(env: Env, job: Job) {
  if (job.kind === 'chat_room') await env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(job.target)).destroy();
  else await env.BUCKET.delete(job.target);
}

/**
 * Does queued cleanup (the given jobs, or the due ones) and drops each job that succeeded; a
 * failed one waits with backoff for the next sweep. Idempotent: destroying an object twice or
 * deleting a missing R2 key is harmless.
 */
export async function runCleanupJobs(env: Env, ids?: string[]): Promise<{ done: number; failed: number }> {
  const db = getDb(env);
  const now = Date.now();
  const jobs: Job[] = [];
  if (ids) {
    for (const part of chunk(ids)) jobs.push(...(await db.select().from(cleanupJobs).where(inArray(cleanupJobs.id, part))));
  } else {
    jobs.push(...(await db.select().from(cleanupJobs).where(lte(cleanupJobs.runAfter, now)).orderBy(asc(cleanupJobs.runAfter)).limit(BATCH)));
  }
  let done = 0;
  let failed = 0;
  for (const job of jobs) {
    try {
      await perform(env, job);
      await db.delete(cleanupJobs).where(eq(cleanupJobs.id, job.id));
      done++;
    } catch (err) {
      failed++;
      console.error(JSON.stringify({ msg: 'cleanup failed', job: job.id, error: String(err) }));
      const backoff = Math.min(3600_000, 60_000 * 2 ** job.attempts);
      await db
        .update(cleanupJobs)
        .set({ attempts: sql`${cleanupJobs.attempts} + 1`, runAfter: now + backoff })
        .where(eq(cleanupJobs.id, job.id));
    }
  }
  return { done, failed };
}

/** Runs the given jobs after the response (the cron sweep retries any that fail). */
export function runJobsSoon(env: Env, waitUntil: (p: Promise<unknown>) => void, ids: string[]) {
  if (ids.length) waitUntil(runCleanupJobs(env, ids));
}
