import { and, count, desc, eq, getTableColumns, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import { taskTags, tasks } from '../db/schema';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type TaskRow = typeof tasks.$inferSelect;
export type NewTask = typeof tasks.$inferInsert;
export type TaskChanges = Partial<Omit<NewTask, 'id' | 'userId' | 'createdAt'>>;

/** The list filters, as GET /tasks names them (tasks/schemas.ts `TaskFilters` fits). */
export interface TaskListFilters {
  status?: string;
  priority?: string;
  agent_id?: string;
  workspace_id?: string;
  tag?: string;
  due_before?: number;
  due_after?: number;
}

/**
 * task_tags is derived from tasks.tags inside the same batch, so the two never disagree even
 * when a concurrent write to the task wins: whatever tags the row ends with are the ones indexed.
 */
const rewriteTags = (db: Db, taskId: string) => [
  db.delete(taskTags).where(eq(taskTags.taskId, taskId)),
  // A query builder, not db.run(sql): drizzle's D1 batch cannot bind parameters of raw statements.
  // Columns are spelled out because json_each has an `id` column of its own.
  db
    .insert(taskTags)
    .select(
      db
        .select({
          taskId: sql<string>`"tasks"."id"`.as('task_id'),
          userId: sql<string>`"tasks"."user_id"`.as('user_id'),
          tag: sql<string>`j.value`.as('tag'),
          createdAt: sql<number>`"tasks"."created_at"`.as('created_at'),
        })
        .from(sql`${tasks}, json_each(${tasks.tags}) AS j`)
        .where(eq(tasks.id, taskId)),
    )
    .onConflictDoNothing(),
] as const;

/** Inserts the task and its tag rows in one batch (tasks/service.ts checks what it refers to). */
export async function insertTask(db: Db, row: NewTask): Promise<TaskRow> {
  const [rows] = await db.batch([db.insert(tasks).values(row).returning(), rewriteTags(db, row.id)[1]]);
  return rows[0];
}

/** The user's task (ownership is also in SQL, as in updateTask's compare-and-set). */
export async function findTask(db: Db, userId: string, id: string): Promise<TaskRow | null> {
  return (await db.select().from(tasks).where(and(eq(tasks.id, id), eq(tasks.userId, userId))).limit(1))[0] ?? null;
}

/**
 * The list query, unexecuted, so tests can EXPLAIN exactly what the route runs. Newest first by
 * (created_at, id). A tag filter drives the query from task_tags, whose (user_id, tag,
 * created_at, task_id) index gives the order; other filters use the tasks_user_* indexes.
 */
export function selectTasks(db: Db, userId: string, f: TaskListFilters, limit: number, cursor?: string) {
  const where: (SQL | undefined)[] = [eq(tasks.userId, userId)];
  if (f.status) where.push(eq(tasks.status, f.status));
  if (f.priority) where.push(eq(tasks.priority, f.priority));
  if (f.agent_id) where.push(eq(tasks.agentId, f.agent_id));
  if (f.workspace_id) where.push(eq(tasks.workspaceId, f.workspace_id));
  if (f.due_before !== undefined) where.push(lt(tasks.dueDate, f.due_before));
  if (f.due_after !== undefined) where.push(gte(tasks.dueDate, f.due_after));
  const newest = [desc(tasks.createdAt), desc(tasks.id)];
  if (!f.tag && f.due_before === undefined && f.due_after === undefined) {
    return db.select().from(tasks).where(and(...where, keyset(tasks.createdAt, tasks.id, cursor).where)).orderBy(...newest).limit(limit + 1);
  }
  if (!f.tag) {
    // A due range cannot come out of an index in created order, so the page is sorted; picking
    // the page's ids from the covering (user_id, due_date, created_at, id) index first keeps the
    // sort off the table rows (measured: ~2x faster with 50,000 matching rows).
    const page = db.select({ id: tasks.id }).from(tasks).where(and(...where, keyset(tasks.createdAt, tasks.id, cursor).where)).orderBy(...newest).limit(limit + 1);
    return db.select().from(tasks).where(inArray(tasks.id, page)).orderBy(...newest);
  }
  return db
    .select(getTableColumns(tasks))
    .from(taskTags)
    .innerJoin(tasks, eq(tasks.id, taskTags.taskId))
    .where(and(eq(taskTags.userId, userId), eq(taskTags.tag, f.tag), keyset(taskTags.createdAt, taskTags.taskId, cursor).where, ...where))
    .orderBy(desc(taskTags.createdAt), desc(taskTags.taskId))
    .limit(limit + 1);
}

/**
 * Applies `changes`; with `expectedStatus` the update only lands if the status is still the one
 * the caller read (a concurrent move makes it a no-op). Returns the new row, or null if nothing
 * matched. Tag rows are rewritten in the same batch when the tags change.
 */
export async function updateTask(
  db: Db,
  userId: string,
  id: string,
  changes: TaskChanges,
  expectedStatus?: string,
): Promise<TaskRow | null> {
  const match = and(eq(tasks.id, id), eq(tasks.userId, userId), expectedStatus ? eq(tasks.status, expectedStatus) : undefined);
  const update = db.update(tasks).set(changes).where(match).returning();
  if (changes.tags === undefined) return (await update)[0] ?? null;
  const [rows] = await db.batch([update, ...rewriteTags(db, id)]);
  return rows[0] ?? null;
}

/** Deletes the user's task; returns the deleted row's owner, or null when nothing matched. */
export async function deleteTask(db: Db, userId: string, id: string): Promise<{ id: string; userId: string } | null> {
  const rows = await db.delete(tasks).where(and(eq(tasks.id, id), eq(tasks.userId, userId))).returning({ id: tasks.id, userId: tasks.userId });
  return rows[0] ?? null;
}

/**
 * Counts by status and by priority: two grouped queries in one round trip, each answered from
 * its own (user_id, status|priority, ...) index without touching the table rows.
 */
export async function taskCounts(db: Db, userId: string, workspaceId?: string) {
  const scope = and(eq(tasks.userId, userId), workspaceId ? eq(tasks.workspaceId, workspaceId) : undefined);
  const [byStatus, byPriority] = await db.batch([
    db.select({ key: tasks.status, n: count() }).from(tasks).where(scope).groupBy(tasks.status),
    db.select({ key: tasks.priority, n: count() }).from(tasks).where(scope).groupBy(tasks.priority),
  ]);
  return { byStatus, byPriority };
}
