import type { Db } from '../db/client';
import { badRequest } from '../lib/errors';
import { iso } from '../lib/time';
import { usd } from './pricing';
import { byAgentQuery, byProviderQuery, dailyQuery, dayStart, readBudget, saveBudget, summaryQuery } from './queries';
import { DAY_MS, reportWindow, type PutBudgetInput } from './schemas';

/**
 * The cost area's logic for its routes (src/cost/routes.ts): reports over the usage ledger and the
 * user's budget. The ledger is written by the chat's object, one row per model call
 * (src/cost/queries.ts insertUsageStatement); here it is only read. Every answer is the caller's
 * own: each statement is scoped by user_id.
 */

const counts = (r: { runs: number; inputTokens: number; outputTokens: number }) => ({
  runs: r.runs,
  input_tokens: r.inputTokens,
  output_tokens: r.outputTokens,
});

export async function costSummary(db: Db, userId: string, now: number) {
  const [r] = await summaryQuery(db, userId, now);
  return {
    currency: 'USD' as const,
    month_to_date: usd(r?.monthToDate ?? 0),
    today: usd(r?.today ?? 0),
    total: usd(r?.total ?? 0),
    runs: r?.runs ?? 0,
    unpriced_runs: r?.unpricedRuns ?? 0,
    input_tokens: r?.inputTokens ?? 0,
    output_tokens: r?.outputTokens ?? 0,
  };
}

/** The last `days` UTC days ending today, oldest first, every one present (zeros when idle). */
export async function dailyCosts(db: Db, userId: string, days: number, now: number) {
  const end = dayStart(now) + DAY_MS;
  const start = end - days * DAY_MS;
  const rows = new Map((await dailyQuery(db, userId, start, end)).map((r) => [r.day, r]));
  return Array.from({ length: days }, (_, i) => {
    const at = start + i * DAY_MS;
    const r = rows.get(at / DAY_MS);
    return { date: iso(at).slice(0, 10), cost: usd(r?.cost ?? 0), ...counts(r ?? { runs: 0, inputTokens: 0, outputTokens: 0 }) };
  });
}

/** The window the route validated (schemas.ts windowQuery); checked again here for callers without it. */
function window(q: { from?: number; to?: number }, now: number) {
  const w = reportWindow(q, now);
  if ('error' in w) throw badRequest(w.error, 'validation_error');
  return w;
}

export async function costsByAgent(db: Db, userId: string, q: { from?: number; to?: number }, now: number) {
  const { from, to } = window(q, now);
  const rows = await byAgentQuery(db, userId, from, to);
  return {
    agents: rows.map((r) => ({ agent_id: r.agentId, name: r.name, deleted: Boolean(r.deleted), cost: usd(r.cost), ...counts(r) })),
    from: iso(from),
    to: iso(to),
  };
}

export async function costsByProvider(db: Db, userId: string, q: { from?: number; to?: number }, now: number) {
  const { from, to } = window(q, now);
  const rows = await byProviderQuery(db, userId, from, to);
  return { providers: rows.map((r) => ({ provider: r.provider, model: r.model, cost: usd(r.cost), ...counts(r) })), from: iso(from), to: iso(to) };
}

export const getBudget = (db: Db, userId: string, now: number) => readBudget(db, userId, now);

/**
 * Replaces the budget (thresholds stored ascending), and records at once the thresholds this
 * month's spend has already reached under the new limit, in the same batch.
 */
export function putBudget(db: Db, userId: string, input: PutBudgetInput, now: number) {
  return saveBudget(
    db,
    userId,
    {
      monthlyLimitMicros: input.monthly_limit === null ? null : Math.round(input.monthly_limit * 1_000_000),
      alertThresholds: [...input.alert_thresholds].sort((a, b) => a - b),
    },
    now,
  );
}
