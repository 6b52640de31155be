import { and, eq, getTableColumns, lte, or, sql } from 'drizzle-orm';
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

const activeCount = (userId: string) =>
  sql`(SELECT count(*) FROM processes WHERE user_id = ${userId} AND is_active = 1)`;

/**
 * Inserts an active process only while its user has fewer than `cap` active ones, in one
 * statement (raw SQL: drizzle cannot guard an INSERT with a WHERE), so two racing creates cannot
 * both pass the check. Returns null when the cap is reached.
 */
export async function insertProcessWithinCap(db: Db, p: ProcessInsert, cap: number): Promise<ProcessRow | null> {
  if (p.isActive === false) return insertProcess(db, p);
  const inserted = await db.$client
    .prepare(
      `INSERT INTO processes (id, user_id, workspace_id, name, description, trigger_type, schedule, timezone,
         is_active, action, webhook_secret, next_run_at, created_at, updated_at)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1, ?9, ?10, ?11, ?12, ?13
       WHERE (SELECT count(*) FROM processes WHERE user_id = ?2 AND is_active = 1) < ?14
       RETURNING id`,
    )
    .bind(p.id, p.userId, p.workspaceId ?? null, p.name, p.description ?? null, p.triggerType, p.schedule ?? null,
      p.timezone ?? 'UTC', p.action, p.webhookSecret ?? null, p.nextRunAt ?? null, p.createdAt, p.updatedAt, cap)
    .first<{ id: string }>();
  return inserted ? findOwnProcess(db, p.userId, inserted.id) : null;
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

/**
 * Enabling (`isActive: true`) matches only a process that is active already or whose user has
 * fewer than `cap` active ones: the check and the write are one statement. Null when nothing
 * matched (deleted meanwhile, or the cap).
 */
export async function updateProcess(
  db: Db,
  p: Pick<ProcessRow, 'id' | 'userId'>,
  changes: Partial<ProcessInsert>,
  cap: number,
): Promise<ProcessRow | null> {
  const withinCap = changes.isActive === true ? or(sql`${processes.isActive} = 1`, sql`${activeCount(p.userId)} < ${cap}`) : undefined;
  const [row] = await db.update(processes).set(changes).where(and(eq(processes.id, p.id), withinCap)).returning();
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
 * Due active processes, shared out round-robin by user: each user's earliest due one first, then
 * everyone's second, and so on (oldest due first within a round), so one user with hundreds due
 * cannot fill every batch. Found through the partial index processes_due_idx (its WHERE,
 * `is_active = 1`, is repeated literally; a test checks the query plan).
 */
export const dueProcessesQuery = (db: Db, now: number, limit: number) => {
  const ranked = db
    .select({
      id: processes.id,
      due: sql<number>`${processes.nextRunAt}`.as('due'),
      turn: sql<number>`row_number() OVER (PARTITION BY ${processes.userId} ORDER BY ${processes.nextRunAt}, ${processes.id})`.as('turn'),
    })
    .from(processes)
    .where(and(sql`${processes.isActive} = 1`, lte(processes.nextRunAt, now)))
    .as('ranked');
  return db
    .select(getTableColumns(processes))
    .from(ranked)
    .innerJoin(processes, eq(processes.id, ranked.id))
    .orderBy(sql`${ranked.turn}`, sql`${ranked.due}`, ranked.id)
    .limit(limit);
};

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
