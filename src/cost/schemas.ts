import { z } from '@hono/zod-openapi';
import { iso, isoOrNull } from '../lib/time';
import { monthOf, usd } from './pricing';
import type { BudgetState } from './queries';

/**
 * The cost area's request and response schemas and serializers. Amounts are USD as numbers (from
 * the ledger's integer micro-USD through pricing.ts `usd`); days and months are UTC.
 */

export const DAY_MS = 86_400_000;
export const DAYS_MAX = 90;
export const RANGE_MAX_DAYS = 366;
export const LIMIT_MAX_USD = 1_000_000;
export const THRESHOLDS_MAX = 10;

const amount = (description: string) => z.number().openapi({ description, example: 1.234567 });
const tokens = (description: string) => z.number().int().openapi({ description });

// ---- Query parameters ----------------------------------------------------------------------

const DAYS_ERROR = `days must be an integer between 1 and ${DAYS_MAX}`;
export const dailyQuery = z.object({
  days: z.coerce
    .number({ error: DAYS_ERROR })
    .int({ error: DAYS_ERROR })
    .min(1, { error: DAYS_ERROR })
    .max(DAYS_MAX, { error: DAYS_ERROR })
    .default(7)
    .openapi({ param: { name: 'days', in: 'query' }, example: 7, description: `How many UTC days, ending today (1 to ${DAYS_MAX})` }),
});

/** An ISO 8601 date (midnight UTC) or a date-time with an offset, as epoch milliseconds. */
const instant = (field: string, description: string) =>
  z
    .union([z.iso.datetime({ offset: true }), z.iso.date()], {
      error: `${field} must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)`,
    })
    .transform((s) => Date.parse(s))
    .refine((ms) => Number.isFinite(ms), { error: `${field} must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)` })
    .optional()
    .openapi({ param: { name: field, in: 'query' }, type: 'string', format: 'date-time', description });

/**
 * The window of a breakdown: [from, to). Each bound defaults to this UTC month's (its first
 * millisecond, the next month's first); a bound given replaces its default. Answers the window,
 * or what is wrong with it.
 */
export function reportWindow(q: { from?: number; to?: number }, now: number): { from: number; to: number } | { error: string } {
  const month = monthOf(now).start;
  const d = new Date(month);
  const from = q.from ?? month;
  const to = q.to ?? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  if (from >= to) {
    const which = q.from === undefined ? ' (by default the start of this UTC month)' : q.to === undefined ? ' (by default the start of next UTC month)' : '';
    return { error: `from must be before to${which}` };
  }
  if (to - from > RANGE_MAX_DAYS * DAY_MS) return { error: `from and to must be at most ${RANGE_MAX_DAYS} days apart` };
  return { from, to };
}

export const windowQuery = z
  .object({
    from: instant('from', 'Start of the window, inclusive (default: the start of this UTC month). A date is midnight UTC.'),
    to: instant('to', 'End of the window, exclusive (default: the start of next UTC month). A date is midnight UTC.'),
  })
  .superRefine((q, ctx) => {
    const w = reportWindow(q, Date.now());
    if ('error' in w) ctx.addIssue({ code: 'custom', path: [q.from === undefined ? 'to' : 'from'], message: w.error });
  });

// ---- Reports -------------------------------------------------------------------------------

const counts = {
  runs: z.number().int().openapi({ description: 'Distinct runs with usage in the period' }),
  input_tokens: tokens('Input (prompt) tokens'),
  output_tokens: tokens('Output (completion) tokens'),
};

export const CostSummary = z
  .object({
    currency: z.literal('USD'),
    month_to_date: amount('Spent this UTC calendar month'),
    today: amount('Spent today (UTC)'),
    total: amount('Spent in all time'),
    runs: z.number().int().openapi({ description: 'Distinct runs in all time' }),
    unpriced_runs: z.number().int().openapi({ description: 'Runs (all time) with a model call whose model had no price in MODEL_PRICES: counted at 0' }),
    input_tokens: tokens('Input tokens, all time'),
    output_tokens: tokens('Output tokens, all time'),
  })
  .openapi('CostSummary', {
    example: { currency: 'USD', month_to_date: 1.25, today: 0.031, total: 7.8, runs: 412, unpriced_runs: 3, input_tokens: 1203400, output_tokens: 301250 },
  });

export const DailyCost = z
  .object({ date: z.string().openapi({ format: 'date', example: '2027-03-01' }), cost: amount('Spent that UTC day'), ...counts })
  .openapi('DailyCost');

const Window = {
  from: z.string().openapi({ format: 'date-time', description: 'The window\'s start, inclusive' }),
  to: z.string().openapi({ format: 'date-time', description: 'The window\'s end, exclusive' }),
};

export const AgentCost = z
  .object({
    agent_id: z.string(),
    name: z.string().nullable().openapi({ description: 'The agent\'s name, kept after it is deleted; null if no agent of yours has this id' }),
    deleted: z.boolean().openapi({ description: 'The agent has been deleted (its spend stays)' }),
    cost: amount('Spent in the window'),
    ...counts,
  })
  .openapi('AgentCost');

export const ProviderCost = z
  .object({ provider: z.string(), model: z.string(), cost: amount('Spent in the window'), ...counts })
  .openapi('ProviderCost');

export const DailyCosts = z.object({ days: z.array(DailyCost) });
export const AgentCosts = z.object({ agents: z.array(AgentCost), ...Window });
export const ProviderCosts = z.object({ providers: z.array(ProviderCost), ...Window });

// ---- Budget --------------------------------------------------------------------------------

const LIMIT_ERROR = `monthly_limit must be null or an amount in USD from 0 to ${LIMIT_MAX_USD} with at most 6 decimals`;
const THRESHOLD_ERROR = 'each alert threshold must be a fraction of the limit greater than 0 and at most 1 (e.g. 0.8)';

/** At most 6 decimals: the amount is a whole number of micro-USD. */
const wholeMicros = (v: number) => Number(v.toFixed(6)) === v;

export const putBudgetBody = z
  .object({
    monthly_limit: z
      .number({ error: (iss) => (iss.input === undefined ? 'Missing monthly_limit parameter' : LIMIT_ERROR) })
      .min(0, { error: LIMIT_ERROR })
      .max(LIMIT_MAX_USD, { error: LIMIT_ERROR })
      .refine(wholeMicros, { error: LIMIT_ERROR })
      .nullable()
      .openapi({ description: 'Your monthly limit in USD (at most 6 decimals); null: none (the operator\'s limit still applies)' }),
    alert_thresholds: z
      .array(z.number({ error: THRESHOLD_ERROR }).gt(0, { error: THRESHOLD_ERROR }).lte(1, { error: THRESHOLD_ERROR }), {
        error: 'alert_thresholds must be an array of fractions of the limit, such as [0.5, 0.8, 1]',
      })
      .max(THRESHOLDS_MAX, { error: `alert_thresholds takes at most ${THRESHOLDS_MAX} thresholds` })
      .refine((t) => new Set(t).size === t.length, { error: 'alert_thresholds must not repeat a threshold' })
      .default([])
      .openapi({ description: `Fractions of monthly_limit in (0, 1], unique, at most ${THRESHOLDS_MAX}; each is recorded once a month when this month's spend reaches it. Default none.` }),
  })
  .openapi('BudgetInput', { example: { monthly_limit: 25, alert_thresholds: [0.5, 0.8, 1] } });
export type PutBudgetInput = z.output<typeof putBudgetBody>;

export const Budget = z
  .object({
    monthly_limit: z.number().nullable().openapi({ description: 'Your monthly limit in USD; null: none' }),
    alert_thresholds: z.array(z.number()).openapi({ description: 'Fractions of monthly_limit, ascending' }),
    month_to_date: amount('Spent this UTC calendar month'),
    remaining: z.number().nullable().openapi({ description: 'monthly_limit - month_to_date, never below 0; null without a monthly_limit' }),
    operator_limit: z.number().nullable().openapi({ description: 'The operator\'s ceiling on every user\'s month (USER_MONTHLY_LIMIT_USD), whatever your own limit says; null: none' }),
    alerts: z
      .array(z.object({ threshold: z.number(), crossed_at: z.string().openapi({ format: 'date-time' }) }))
      .openapi({ description: 'The thresholds crossed this UTC month, each recorded once, ascending; kept when the thresholds change' }),
    updated_at: z.string().nullable().openapi({ format: 'date-time', description: 'When you last set the budget; null: never' }),
  })
  .openapi('Budget', {
    example: {
      monthly_limit: 25,
      alert_thresholds: [0.5, 0.8, 1],
      month_to_date: 13.2,
      remaining: 11.8,
      operator_limit: 10,
      alerts: [{ threshold: 0.5, crossed_at: '2027-03-14T10:02:11.000Z' }],
      updated_at: '2027-03-01T09:00:00.000Z',
    },
  });

/** The API's view of a budget: USD, ISO times, the defaults for a user who never set one. */
export function budgetJson(s: BudgetState, operatorLimitMicros: number | null): z.infer<typeof Budget> {
  const limit = s.budget?.monthlyLimitMicros ?? null;
  return {
    monthly_limit: limit === null ? null : usd(limit),
    alert_thresholds: s.budget ? (JSON.parse(s.budget.alertThresholds) as number[]) : [],
    month_to_date: usd(s.monthSpendMicros),
    remaining: limit === null ? null : usd(Math.max(0, limit - s.monthSpendMicros)),
    operator_limit: operatorLimitMicros === null ? null : usd(operatorLimitMicros),
    alerts: s.alerts.map((a) => ({ threshold: a.threshold, crossed_at: iso(a.crossedAt) })),
    updated_at: isoOrNull(s.budget?.updatedAt),
  };
}
