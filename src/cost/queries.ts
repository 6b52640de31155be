import { and, desc, eq, gte, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { agents, budgetAlerts, budgets, usageEntries } from '../db/schema';
import { monthOf } from './pricing';

/**
 * The cost area's D1 statements (the usage ledger, budgets, threshold crossings). Take `db`,
 * import no area. The chat object writes the ledger (src/durable/chat-runs.ts) and runs
 * `recordCrossings` in the same batch; the budget route runs it when the budget changes.
 */

export type UsageEntry = typeof usageEntries.$inferInsert;

/** One ledger row; a retried write of the same model call (same id) is ignored. */
export const insertUsageStatement = (db: Db, e: UsageEntry) => db.insert(usageEntries).values(e).onConflictDoNothing();

/** This UTC month's spend of a user, in micro-USD, as an SQL expression (admission reads it in its one statement). */
export const monthSpendSql = (userId: unknown, now: number) =>
  sql<number>`(SELECT COALESCE(SUM(${usageEntries.costMicros}), 0) FROM ${usageEntries} WHERE ${usageEntries.userId} = ${userId} AND ${usageEntries.createdAt} >= ${monthOf(now).start})`;

/** The user's own monthly limit in micro-USD (null: none), as an SQL expression. */
export const budgetLimitSql = (userId: unknown) =>
  sql<number | null>`(SELECT ${budgets.monthlyLimitMicros} FROM ${budgets} WHERE ${budgets.userId} = ${userId})`;

/**
 * Records each of the user's alert thresholds that this month's spend has reached and that is not
 * recorded yet (once per month: the primary key), in one statement. Run after every ledger write
 * and every budget change.
 */
export function recordCrossings(db: Db, userId: string, now: number) {
  const { start, month } = monthOf(now);
  return db.run(sql`
    INSERT OR IGNORE INTO ${budgetAlerts} (user_id, month, threshold, crossed_at)
    SELECT b.user_id, ${month}, t.value, ${now}
    FROM ${budgets} b, json_each(b.alert_thresholds) t
    WHERE b.user_id = ${userId} AND b.monthly_limit_micros IS NOT NULL
      AND (SELECT COALESCE(SUM(u.cost_micros), 0) FROM ${usageEntries} u WHERE u.user_id = ${userId} AND u.created_at >= ${start})
          >= t.value * b.monthly_limit_micros`);
}

/*
 * The reports and the budget routes (src/cost/service.ts). Every report is one grouped statement
 * over the user's ledger rows, sought through one of its (user_id, ...) indexes, with a handful of
 * bound parameters (D1 allows 100). Query builders, not db.run(sql): tests EXPLAIN them, and
 * drizzle's D1 batch cannot bind the parameters of raw statements.
 */

const DAY_MS = 86_400_000;
const u = usageEntries;

/** The first millisecond of the UTC day of `now`. */
export const dayStart = (now: number): number => Math.floor(now / DAY_MS) * DAY_MS;

const sumOf = (column: typeof u.costMicros | typeof u.inputTokens | typeof u.outputTokens) => sql<number>`COALESCE(SUM(${column}), 0)`;
const distinctRuns = sql<number>`COUNT(DISTINCT ${u.runId})`;

/**
 * GET /cost/summary: all-time totals, this UTC month's and today's spend, distinct runs and runs
 * with an unpriced call, in one pass over usage_user_created_idx.
 */
export const summaryQuery = (db: Db, userId: string, now: number) => {
  const month = monthOf(now).start;
  const day = dayStart(now);
  return db
    .select({
      total: sumOf(u.costMicros),
      monthToDate: sql<number>`COALESCE(SUM(CASE WHEN ${u.createdAt} >= ${month} THEN ${u.costMicros} END), 0)`,
      today: sql<number>`COALESCE(SUM(CASE WHEN ${u.createdAt} >= ${day} THEN ${u.costMicros} END), 0)`,
      runs: distinctRuns,
      unpricedRuns: sql<number>`COUNT(DISTINCT CASE WHEN ${u.unpriced} THEN ${u.runId} END)`,
      inputTokens: sumOf(u.inputTokens),
      outputTokens: sumOf(u.outputTokens),
    })
    .from(u)
    .where(eq(u.userId, userId));
};

/**
 * GET /cost/daily: one row per UTC day that has usage in [from, to), keyed by its day number
 * since the epoch (integer division of the integer column by a literal). Days without usage are
 * absent; the service fills them in.
 */
export const dailyQuery = (db: Db, userId: string, from: number, to: number) => {
  const day = sql<number>`${u.createdAt} / ${sql.raw(String(DAY_MS))}`;
  return db
    .select({ day, cost: sumOf(u.costMicros), runs: distinctRuns, inputTokens: sumOf(u.inputTokens), outputTokens: sumOf(u.outputTokens) })
    .from(u)
    .where(and(eq(u.userId, userId), gte(u.createdAt, from), lt(u.createdAt, to)))
    .groupBy(day)
    .orderBy(day);
};

/**
 * GET /cost/by-agent: spend per agent in [from, to), highest first. The agent's name comes from
 * its row, which a deleted agent keeps (soft delete), so spent money never loses its name; the
 * join also requires the agent to be the user's own.
 */
export const byAgentQuery = (db: Db, userId: string, from: number, to: number) =>
  db
    .select({
      agentId: u.agentId,
      name: sql<string | null>`MAX(${agents.name})`,
      deleted: sql<number>`COALESCE(MAX(${agents.deletedAt} IS NOT NULL), 0)`,
      cost: sumOf(u.costMicros),
      runs: distinctRuns,
      inputTokens: sumOf(u.inputTokens),
      outputTokens: sumOf(u.outputTokens),
    })
    .from(u)
    .leftJoin(agents, and(eq(agents.id, u.agentId), eq(agents.userId, u.userId)))
    .where(and(eq(u.userId, userId), gte(u.createdAt, from), lt(u.createdAt, to)))
    .groupBy(u.agentId)
    .orderBy(desc(sumOf(u.costMicros)), u.agentId);

/** GET /cost/by-provider: spend per (provider, model) in [from, to), highest first. */
export const byProviderQuery = (db: Db, userId: string, from: number, to: number) =>
  db
    .select({
      provider: u.provider,
      model: u.model,
      cost: sumOf(u.costMicros),
      runs: distinctRuns,
      inputTokens: sumOf(u.inputTokens),
      outputTokens: sumOf(u.outputTokens),
    })
    .from(u)
    .where(and(eq(u.userId, userId), gte(u.createdAt, from), lt(u.createdAt, to)))
    .groupBy(u.provider, u.model)
    .orderBy(desc(sumOf(u.costMicros)), u.provider, u.model);

export type BudgetRow = typeof budgets.$inferSelect;

/**
 * recordCrossings as a query builder (INSERT ... SELECT), for a db.batch of the caller's own: the
 * same condition, the same once-per-month primary key. Columns are spelled out because json_each
 * has columns of its own; the SELECT's WHERE keeps SQLite from reading ON CONFLICT as a join.
 */
export const recordCrossingsStatement = (db: Db, userId: string, now: number) => {
  const { start, month } = monthOf(now);
  return db
    .insert(budgetAlerts)
    .select(
      db
        .select({
          userId: sql<string>`b.user_id`.as('user_id'),
          month: sql<string>`${month}`.as('month'),
          threshold: sql<number>`t.value`.as('threshold'),
          crossedAt: sql<number>`${now}`.as('crossed_at'),
        })
        .from(sql`${budgets} AS b, json_each(b.alert_thresholds) AS t`)
        .where(
          sql`b.user_id = ${userId} AND b.monthly_limit_micros IS NOT NULL
            AND (SELECT COALESCE(SUM(x.cost_micros), 0) FROM ${usageEntries} AS x WHERE x.user_id = ${userId} AND x.created_at >= ${start})
                >= t.value * b.monthly_limit_micros`,
        ),
    )
    .onConflictDoNothing();
};

/** What GET /cost/budget reads: the budget row, this month's spend and this month's recorded crossings. */
const budgetReads = (db: Db, userId: string, now: number) => {
  const { start, month } = monthOf(now);
  return [
    db.select().from(budgets).where(eq(budgets.userId, userId)),
    db.select({ spend: sumOf(u.costMicros) }).from(u).where(and(eq(u.userId, userId), gte(u.createdAt, start))),
    db
      .select({ threshold: budgetAlerts.threshold, crossedAt: budgetAlerts.crossedAt })
      .from(budgetAlerts)
      .where(and(eq(budgetAlerts.userId, userId), eq(budgetAlerts.month, month)))
      .orderBy(budgetAlerts.threshold),
  ] as const;
};

export interface BudgetState {
  budget: BudgetRow | null;
  monthSpendMicros: number;
  alerts: { threshold: number; crossedAt: number }[];
}

/** The user's budget as GET /cost/budget shows it, in one round trip. */
export async function readBudget(db: Db, userId: string, now: number): Promise<BudgetState> {
  const [row, spend, alerts] = await db.batch(budgetReads(db, userId, now));
  return { budget: row[0] ?? null, monthSpendMicros: spend[0]?.spend ?? 0, alerts };
}

/**
 * PUT /cost/budget in one batch (one round trip, one transaction): upserts the budget, records the
 * thresholds this month's spend has already reached under it (once per month; crossings already
 * recorded stay, whatever the new thresholds), then reads the result back.
 */
export async function saveBudget(
  db: Db,
  userId: string,
  budget: { monthlyLimitMicros: number | null; alertThresholds: number[] },
  now: number,
): Promise<BudgetState> {
  const values = { monthlyLimitMicros: budget.monthlyLimitMicros, alertThresholds: JSON.stringify(budget.alertThresholds), updatedAt: now };
  const [, , row, spend, alerts] = await db.batch([
    db.insert(budgets).values({ userId, ...values }).onConflictDoUpdate({ target: budgets.userId, set: values }),
    recordCrossingsStatement(db, userId, now),
    ...budgetReads(db, userId, now),
  ]);
  return { budget: row[0] ?? null, monthSpendMicros: spend[0]?.spend ?? 0, alerts };
}
