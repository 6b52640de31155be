import { and, eq, lte, sql } from 'drizzle-orm';
import { processes, processExecutions } from '../db/schema';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type ProcessRow = typeof processes.$inferSelect;
export type ProcessInsert = typeof processes.$inferInsert;
export type ExecutionRow = typeof processExecutions.$inferSelect;

export async function insertProcess(db: Db, p: ProcessInsert): Promise<ProcessRow> {
  const [row] = await db.insert(processes).values(p).returning();
  return row;
}

/** The process if it is the user's; another user's is as absent as an unknown id. */
export async function findOwnProcess(db: Db, userId: string, id: string): Promise<ProcessRow | null> {
  const rows = await db.select().from(processes).where(and(eq(processes.id, id), eq(processes.userId, userId))).limit(1);
  return rows[0] ?? null;
}

export async function listProcesses(db: Db, userId: string, limit: number, cursor?: string) {
  const k = keyset(processes.createdAt, processes.id, cursor);
  return db
    .select()
    .from(processes)
    .where(and(eq(processes.userId, userId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

export async function updateProcess(db: Db, id: string, changes: Partial<ProcessInsert>): Promise<ProcessRow | null> {
  const [row] = await db.update(processes).set(changes).where(eq(processes.id, id)).returning();
  return row ?? null;
}

/** Executions go with it (foreign key, ON DELETE CASCADE). */
export async function deleteProcess(db: Db, id: string) {
  await db.delete(processes).where(eq(processes.id, id));
}

/** A manual run: the execution row and last_execution_at in one batch. */
export async function startManualExecution(db: Db, p: ProcessRow, executionId: string, now: number): Promise<ExecutionRow> {
  const [rows] = await db.batch([
    db
      .insert(processExecutions)
      .values({ id: executionId, processId: p.id, userId: p.userId, status: 'running', dueAt: null, startedAt: now })
      .returning(),
    db.update(processes).set({ lastExecutionAt: now }).where(eq(processes.id, p.id)),
  ]);
  return rows[0];
}

/** Records the outcome unless the timeout sweep already closed the execution. */
export async function finishExecution(db: Db, id: string, status: 'success' | 'failed', message: string, now: number) {
  const [row] = await db
    .update(processExecutions)
    .set({ status, message, completedAt: now })
    .where(and(eq(processExecutions.id, id), eq(processExecutions.status, 'running')))
    .returning();
  return row ?? (await db.select().from(processExecutions).where(eq(processExecutions.id, id)))[0] ?? null;
}

export async function listExecutions(db: Db, processId: string, limit: number, cursor?: string) {
  const k = keyset(processExecutions.startedAt, processExecutions.id, cursor);
  return db
    .select()
    .from(processExecutions)
    .where(and(eq(processExecutions.processId, processId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

/**
 * Due active processes, oldest due first, through the partial index processes_due_idx (its
 * WHERE, `is_active = 1`, is repeated literally; a test checks the query plan).
 */
export const dueProcessesQuery = (db: Db, now: number, limit: number) =>
  db
    .select()
    .from(processes)
    .where(and(sql`${processes.isActive} = 1`, lte(processes.nextRunAt, now)))
    .orderBy(processes.nextRunAt)
    .limit(limit);

export const dueProcesses = async (db: Db, now: number, limit: number): Promise<ProcessRow[]> => dueProcessesQuery(db, now, limit);

/**
 * Claims one due time of one process: moves next_run_at from `due` to `next` only if it still
 * says `due` (a compare-and-set), and in the same transaction inserts the execution for
 * (process, due). Of two overlapping claims only the first moves next_run_at, and the other's
 * insert either finds nothing to select or hits the unique (process_id, due_at) index.
 * Returns the new execution, or null when another run got there first.
 */
export async function claimDueRun(
  db: Db,
  p: { id: string; due: number; next: number | null },
  executionId: string,
  now: number,
): Promise<ExecutionRow | null> {
  const d1 = db.$client;
  const [, inserted] = await d1.batch<{ id: string }>([
    d1
      .prepare(
        `UPDATE processes SET next_run_at = ?1, last_execution_at = ?2
         WHERE id = ?3 AND next_run_at = ?4 AND is_active = 1`,
      )
      .bind(p.next, now, p.id, p.due),
    d1
      .prepare(
        `INSERT INTO process_executions (id, process_id, user_id, status, due_at, started_at)
         SELECT ?1, id, user_id, 'running', ?2, ?3 FROM processes
         WHERE id = ?4 AND next_run_at IS ?5 AND is_active = 1
         ON CONFLICT (process_id, due_at) DO NOTHING
         RETURNING id`,
      )
      .bind(executionId, p.due, now, p.id, p.next),
  ]);
  if (!inserted.results[0]) return null;
  return (await db.select().from(processExecutions).where(eq(processExecutions.id, executionId)))[0] ?? null;
}

/** Executions still `running` past the timeout (found through process_executions_running_idx). */
export const failStuckExecutionsQuery = (db: Db, now: number, timeoutMs: number, message: string) =>
  db
    .update(processExecutions)
    .set({ status: 'failed', message, completedAt: now })
    .where(and(sql`${processExecutions.status} = 'running'`, sql`${processExecutions.startedAt} < ${now - timeoutMs}`))
    .returning({ id: processExecutions.id });

export const failStuckExecutions = async (db: Db, now: number, timeoutMs: number, message: string): Promise<number> =>
  (await failStuckExecutionsQuery(db, now, timeoutMs, message)).length;
