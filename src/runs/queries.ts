import { and, eq, getTableName, inArray, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { runs, runToolCalls } from '../db/schema';
import { UNFINISHED_RUN_STATUSES } from '../durable/protocol';
import { chunk } from '../lib/chunk';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type RunRow = typeof runs.$inferSelect;
export type NewRun = typeof runs.$inferInsert;
export type RunStatusValue = RunRow['status'];

/**
 * A live run (`queued` or `running`), spelled with literals exactly as the partial indexes
 * runs_live_agent_idx and runs_live_updated_idx are: SQLite only uses a partial index when the
 * query's WHERE repeats its condition, and a bound parameter never matches a literal.
 */
export const isLive = sql`${runs.status} IN ('queued', 'running')`;

/** What a run's row may change after its insert; who, where, how and when it was made never do. */
const MUTABLE = [
  'status',
  'replyToSeq',
  'replyMessageId',
  'provider',
  'model',
  'inputTokens',
  'outputTokens',
  'costMicros',
  'estimated',
  'unpriced',
  'finishReason',
  'errorCode',
  'errorMsg',
  'startedAt',
  'firstTokenAt',
  'finishedAt',
  'updatedAt',
] as const satisfies readonly (keyof NewRun)[];

const fromExcluded = Object.fromEntries(MUTABLE.map((k) => [k, sql.raw(`excluded."${runs[k].name}"`)]));

/**
 * The upsert, unexecuted (for a db.batch of the caller's own). Inserts the run, or updates every mutable column of
 * the stored row, but only while that row is still live and the write is not older than it:
 * a late or retried write never overwrites a final state (completed, failed, cancelled), never
 * takes a running run back to queued, and writing the same final state twice changes nothing.
 * Pass the whole row every time: a column left out is written as NULL.
 */
export const upsertRunStatement = (db: Db, row: NewRun) =>
  db
    .insert(runs)
    .values(row)
    .onConflictDoUpdate({
      target: runs.id,
      set: fromExcluded,
      // Unfinished: live, or waiting on a client's tool outputs or an approval (it resumes to running).
      setWhere: sql`${inArray(runs.status, UNFINISHED_RUN_STATUSES)} AND excluded."updated_at" >= ${runs.updatedAt}`,
    });

/**
 * Writes a run's row (the chat's Durable Object does, when the run starts and when it ends, and
 * retries from its alarm): idempotent, see upsertRunStatement.
 */
export async function upsertRun(db: Db, row: NewRun): Promise<void> {
  await upsertRunStatement(db, row);
}

/**
 * One upsert statement per run, for `db.batch(...)` (one round trip, one transaction), e.g.
 * `const [first, ...rest] = upsertRunStatements(db, rows); if (first) await db.batch([first, ...rest]);`
 */
export const upsertRunStatements = (db: Db, rows: readonly NewRun[]) => rows.map((r) => upsertRunStatement(db, r));

/** The user's run, or null (another user's run and a malformed id look exactly like an unknown one). */
export async function findUserRun(db: Db, userId: string, runId: string): Promise<RunRow | null> {
  return (await db.select().from(runs).where(and(eq(runs.id, runId), eq(runs.userId, userId))).limit(1))[0] ?? null;
}

export interface RunFilters {
  agentId?: string;
  chatId?: string;
  status?: RunStatusValue;
}

/**
 * The list query, unexecuted, so tests can EXPLAIN exactly what the route runs: newest first by
 * (created_at, id), through one of the runs_user_* indexes (agent, chat, status or none), which
 * gives the order, so a cursor seeks.
 */
export function selectUserRuns(db: Db, userId: string, f: RunFilters, limit: number, cursor?: string) {
  const k = keyset(runs.createdAt, runs.id, cursor);
  const where: (SQL | undefined)[] = [eq(runs.userId, userId), k.where];
  if (f.agentId !== undefined) where.push(eq(runs.agentId, f.agentId));
  if (f.chatId !== undefined) where.push(eq(runs.chatId, f.chatId));
  if (f.status !== undefined) where.push(eq(runs.status, f.status));
  return db
    .select()
    .from(runs)
    .where(and(...where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

/** A page of the user's runs (limit + 1 rows: pagination.ts `page` cuts it). */
export async function listUserRuns(db: Db, userId: string, f: RunFilters, limit: number, cursor?: string): Promise<RunRow[]> {
  return selectUserRuns(db, userId, f, limit, cursor);
}

export const INTERRUPTED_MSG = "The run was interrupted: the chat's object stopped while it was live";

/** The sweep, unexecuted (tests EXPLAIN it): through runs_live_updated_idx. */
export const sweepStaleRunsQuery = (db: Db, updatedBefore: number, now: number) =>
  db
    .update(runs)
    .set({ status: 'failed', errorCode: 'run_interrupted', errorMsg: INTERRUPTED_MSG, finishedAt: now, updatedAt: now })
    .where(and(isLive, sql`${runs.updatedAt} < ${updatedBefore}`))
    .returning({ id: runs.id });

/**
 * Live runs nobody has written since `updatedBefore` become `failed` with `run_interrupted`: the
 * chat's object finishes its runs itself, so these are runs of an object that died. Idempotent;
 * returns how many it failed.
 */
export async function sweepStaleRuns(db: Db, updatedBefore: number, now: number): Promise<number> {
  return (await sweepStaleRunsQuery(db, updatedBefore, now)).length;
}

/**
 * "This agent has a live run", as an SQL condition on an agent id column (the agents list's
 * `running` status and filter), answered from runs_live_agent_idx. The column is spelled with its
 * table: drizzle renders a single-table query's columns bare, which inside this subquery would
 * name the run's own `id`.
 */
export const hasLiveRun = (agentId: SQLiteColumn) =>
  sql<boolean>`EXISTS (SELECT 1 FROM ${runs} AS "live" WHERE "live"."agent_id" = ${sql.identifier(getTableName(agentId.table))}.${sql.identifier(agentId.name)} AND "live"."status" IN ('queued', 'running'))`;

/** One chunk of agentsWithLiveRuns, unexecuted (tests EXPLAIN it): through runs_live_agent_idx. */
export const liveAgentsQuery = (db: Db, agentIds: string[]) =>
  db.selectDistinct({ agentId: runs.agentId }).from(runs).where(and(inArray(runs.agentId, agentIds), isLive));

/**
 * Which of these agents have a live run. Ids go in chunks under D1's 100 bound parameters, all
 * chunks in one batch (one round trip); none: no query at all.
 */
export async function agentsWithLiveRuns(db: Db, agentIds: readonly string[]): Promise<Set<string>> {
  const [first, ...rest] = chunk([...new Set(agentIds)]).map((part) => liveAgentsQuery(db, part));
  if (!first) return new Set();
  const results = rest.length ? await db.batch([first, ...rest]) : [await first];
  return new Set(results.flat().map((r) => r.agentId));
}

export type ToolCallRow = typeof runToolCalls.$inferSelect;

/** A run's tool call, written with the run's row by the chat's object (idempotent: a retry updates it). */
export const upsertToolCallStatement = (db: Db, row: typeof runToolCalls.$inferInsert) =>
  db
    .insert(runToolCalls)
    .values(row)
    .onConflictDoUpdate({
      target: [runToolCalls.runId, runToolCalls.callId],
      set: { status: row.status, output: row.output ?? null, error: row.error ?? null, finishedAt: row.finishedAt ?? null },
    });

/** The tool calls of one of the user's runs, in the order they were made (the primary key's prefix). */
export const toolCallsOf = (db: Db, userId: string, runId: string) =>
  db
    .select()
    .from(runToolCalls)
    .where(and(eq(runToolCalls.runId, runId), eq(runToolCalls.userId, userId)))
    .orderBy(runToolCalls.step, runToolCalls.createdAt);

/** A run's sub-runs (ask_agent), oldest first: through runs_parent_idx. */
export const subRunsOf = (db: Db, userId: string, runId: string) =>
  db
    .select()
    .from(runs)
    .where(and(eq(runs.parentRunId, runId), eq(runs.userId, userId)))
    .orderBy(runs.createdAt, runs.id);
