import { asc, eq, inArray, lte, sql } from 'drizzle-orm';
import { getDb } from '../db/client';
import { cleanupJobs } from '../db/schema';
import { chunk } from '../lib/chunk';

type Job = typeof cleanupJobs.$inferSelect;
const BATCH = 100;

async function perform(env: Env, job: Job) {
  if (job.kind === 'chat_room') await env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(job.target)).destroy();
  else await env.BUCKET.delete(job.target);
}

/**
 * Does queued cleanup outside D1 (a chat's Durable Object, an R2 object) and drops each job that
 * succeeded; a failed one waits with backoff for the next sweep. Idempotent: destroying an object
 * twice or deleting a missing R2 key is harmless.
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
