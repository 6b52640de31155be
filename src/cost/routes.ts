import { z } from '@hono/zod-openapi';
import { config } from '../lib/config';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import {
  AgentCosts,
  Budget,
  budgetJson,
  CostSummary,
  DAYS_MAX,
  dailyQuery,
  DailyCosts,
  LIMIT_MAX_USD,
  ProviderCosts,
  putBudgetBody,
  RANGE_MAX_DAYS,
  THRESHOLDS_MAX,
  windowQuery,
} from './schemas';
import { costsByAgent, costsByProvider, costSummary, dailyCosts, getBudget, putBudget } from './service';

const WINDOW_ERRORS = [
  'from must be an ISO 8601 date or date-time (e.g. 2027-03-01 or 2027-03-01T00:00:00Z)',
  'from must be before to',
  `from and to must be at most ${RANGE_MAX_DAYS} days apart`,
];
const WINDOW_DOC = `this UTC calendar month by default; \`from\` (inclusive) and \`to\` (exclusive) take ISO 8601 dates (midnight UTC) or date-times, each replacing its default (the start of this month, the start of the next), at most ${RANGE_MAX_DAYS} days apart`;
const OneBudget = z.object({ budget: Budget });

export const costRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/cost/summary',
      tags: ['Costs'],
      summary: 'What your agents have cost: this month, today and in all time',
      operationId: 'getCostSummary',
      description:
        'Your spend in USD from the usage ledger (one entry per model call of your runs): `month_to_date` (this UTC calendar month), `today` (UTC) and `total`. `runs`, `unpriced_runs` (runs with a call to a model missing from the price table, counted at 0), `input_tokens` and `output_tokens` are all time, like `total`.',
      responses: { 200: okJson(CostSummary) },
    }),
    async (c) => c.json(await costSummary(c.get('db'), c.get('user').id, Date.now()), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/cost/daily',
      tags: ['Costs'],
      summary: 'Your spend per UTC day, the last `days` days',
      operationId: 'getDailyCosts',
      description: `Your spend, runs and tokens per UTC day for the last \`days\` days (1 to ${DAYS_MAX}, default 7) ending today, oldest first: every day is listed, with zeros when nothing ran. A run whose model calls straddle midnight counts on both days.`,
      request: { query: dailyQuery },
      responses: { 200: okJson(DailyCosts), 400: errorResponse(`days must be an integer between 1 and ${DAYS_MAX}`) },
    }),
    async (c) => c.json({ days: await dailyCosts(c.get('db'), c.get('user').id, c.req.valid('query').days, Date.now()) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/cost/by-agent',
      tags: ['Costs'],
      summary: 'Your spend per agent, highest first',
      operationId: 'getCostsByAgent',
      description: `Your spend, runs and tokens per agent, highest cost first, in a window: ${WINDOW_DOC}. A deleted agent is still listed, with its name and \`deleted: true\`: what it spent stays. The answer names the window it used.`,
      request: { query: windowQuery },
      responses: { 200: okJson(AgentCosts), 400: errorResponse(...WINDOW_ERRORS) },
    }),
    async (c) => c.json(await costsByAgent(c.get('db'), c.get('user').id, c.req.valid('query'), Date.now()), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/cost/by-provider',
      tags: ['Costs'],
      summary: 'Your spend per provider and model, highest first',
      operationId: 'getCostsByProvider',
      description: `Your spend, runs and tokens per provider and model, highest cost first, in a window: ${WINDOW_DOC}. The answer names the window it used.`,
      request: { query: windowQuery },
      responses: { 200: okJson(ProviderCosts), 400: errorResponse(...WINDOW_ERRORS) },
    }),
    async (c) => c.json(await costsByProvider(c.get('db'), c.get('user').id, c.req.valid('query'), Date.now()), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/cost/budget',
      tags: ['Costs'],
      summary: 'Your monthly budget, this month\'s spend and the alerts crossed',
      operationId: 'getBudget',
      description:
        'Your budget: `monthly_limit` (USD, null: none) and `alert_thresholds`, with this UTC month\'s spend, what remains under your limit, the operator\'s ceiling (`operator_limit`, which applies whatever your own limit says) and the thresholds crossed this month. Without a budget set: no limit and no thresholds.',
      responses: { 200: okJson(OneBudget) },
    }),
    async (c) => {
      const state = await getBudget(c.get('db'), c.get('user').id, Date.now());
      return c.json({ budget: budgetJson(state, config(c.env).cost.userMonthlyLimitMicros) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/cost/budget',
      tags: ['Costs'],
      summary: 'Set your monthly budget and its alert thresholds',
      operationId: 'putBudget',
      description: `Replaces your budget: \`monthly_limit\` (required: USD from 0 to ${LIMIT_MAX_USD}, at most 6 decimals, or null for none) and \`alert_thresholds\` (fractions of the limit in (0, 1], unique, at most ${THRESHOLDS_MAX}; default none). Runs are refused (402 \`budget_exceeded\`) while this month's spend is at or over the limit. Each threshold is recorded once per UTC month when the spend reaches it; setting a limit below this month's spend records the thresholds it already passed at once. Crossings recorded this month stay when the thresholds change.`,
      request: { body: jsonRequest(putBudgetBody) },
      responses: {
        200: okJson(OneBudget),
        400: errorResponse('Missing JSON in request', 'Missing monthly_limit parameter', 'monthly_limit must be null or an amount in USD ...', 'alert_thresholds must not repeat a threshold', 'Unknown field: ...'),
      },
    }),
    async (c) => {
      const state = await putBudget(c.get('db'), c.get('user').id, c.req.valid('json'), Date.now());
      return c.json({ budget: budgetJson(state, config(c.env).cost.userMonthlyLimitMicros) }, 200);
    },
  );
