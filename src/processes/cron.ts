import { claimDueRun, dueProcesses, failStuckExecutions, type ProcessRow } from './queries';
import { getDb } from '../db/client';
import { config } from '../lib/config';
import { newId } from '../lib/ids';
import type { Db } from '../db/client';
import { complete } from './execute';
import { nextRun } from './schedule';

/**
 * How many actions run at once. A Worker invocation keeps at most six connections open and
 * queues the rest, and a queued webhook's timeout would tick while it waits.
 */
const CONCURRENCY = 6;

export interface ProcessRunSummary {
  timedOut: number;
  due: number;
  claimed: number;
  succeeded: number;
  failed: number;
}

/**
 * Claims `p`'s current due time and runs it. The next run is computed from now, not from the
 * missed due time, so a process that was due during downtime runs once and moves on.
 * Returns null when another (overlapping) run claimed it first.
 */
export async function claimAndRun(env: Env, db: Db, p: ProcessRow, now: number) {
  if (p.nextRunAt === null) return null;
  let next: number | null = null;
  try {
    next = p.schedule ? nextRun(p.schedule, p.timezone, now) : null;
  } catch {
    // A schedule that no longer parses stops the timer; the run itself still happens and is recorded.
  }
  const execution = await claimDueRun(db, { id: p.id, due: p.nextRunAt, next }, newId(), now);
  if (!execution) return null;
  return complete(env, db, { ...p, nextRunAt: next, lastExecutionAt: now }, execution);
}

/**
 * The per-minute job: closes executions stuck in `running` past EXECUTION_TIMEOUT_SECONDS, then
 * claims and runs at most PROCESS_BATCH_SIZE due processes (the rest wait for the next minute).
 * Safe to run twice at once: each due time is claimed by exactly one run. One failing process
 * never stops the others.
 */
export async function runDueProcesses(env: Env): Promise<ProcessRunSummary> {
  const db = getDb(env);
  const cfg = config(env);
  const now = Date.now();
  const timedOut = await failStuckExecutions(
    db,
    now,
    cfg.executionTimeout * 1000,
    `Timed out: still running after ${cfg.executionTimeout} seconds`,
  );
  const due = await dueProcesses(db, now, cfg.processBatchSize);
  const results = await settleLimited(due, CONCURRENCY, (p) => claimAndRun(env, db, p, now));
  const summary: ProcessRunSummary = { timedOut, due: due.length, claimed: 0, succeeded: 0, failed: 0 };
  results.forEach((r, i) => {
    if (r.status === 'rejected') {
      console.error(JSON.stringify({ msg: 'process run failed', process_id: due[i].id, error: String(r.reason) }));
    } else if (r.value) {
      summary.claimed++;
      if (r.value.status === 'success') summary.succeeded++;
      else summary.failed++;
    }
  });
  return summary;
}

/** Promise.allSettled over `items`, with at most `limit` of them in flight. */
async function settleLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const out: PromiseSettledResult<R>[] = [];
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        out[i] = { status: 'fulfilled', value: await fn(items[i]) };
      } catch (reason) {
        out[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
