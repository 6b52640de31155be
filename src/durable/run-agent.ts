import { and, eq, isNull, sql } from 'drizzle-orm';
import { budgetLimitSql, monthSpendSql } from '../cost/queries';
import type { Db } from '../db/client';
import { agents, chats, workspaceAgents } from '../db/schema';
import type { Config } from '../lib/config';
import { PROMPT_FIRST_BATCH, type PromptMemory, promptMemoriesSql } from '../memories/queries';
import { fail, type Failure } from './protocol';

/** What a run needs of its agent, copied when the run is admitted (an edit later does not change a live run). */
export interface RunAgent {
  agentId: string;
  name: string;
  systemPrompt: string;
  model: { provider: string; name: string; temperature?: number; top_p?: number; max_tokens?: number };
  /** The agent's `tools` entries (built-in names are what runs use today). */
  tools?: { name: string; description?: string; parameters?: Record<string, unknown>; requires_approval?: boolean }[];
}

/** The part of an agent row a run copies. */
export const runAgentOf = (a: typeof agents.$inferSelect): RunAgent => ({
  agentId: a.id,
  name: a.name,
  systemPrompt: a.systemPrompt,
  model: JSON.parse(a.model) as RunAgent['model'],
  tools: JSON.parse(a.tools) as RunAgent['tools'],
});

/** What admission knows of the chat owner's money: this UTC month's spend and their own limit (micro-USD). */
export interface Spend {
  monthMicros: number;
  /** The user's own monthly limit (budgets.monthly_limit_micros); null: none. */
  limitMicros: number | null;
}

export type LoadedRunAgent = Awaited<ReturnType<typeof loadRunAgent>>;

/**
 * The one D1 read a run needs (one statement: it is on every run's path to the model): the
 * chat's owner and workspace, the agent if the owner has it live, with whether it is in that
 * workspace, the owner's month-to-date spend and own limit for admission (`admit`), and the
 * newest of the agent's memories of the owner (the prompt's first batch). Every
 * way a run starts (the HTTP route, a chat message, code) is checked here, so the checks are the
 * same everywhere.
 */
export async function loadRunAgent(
  db: Db,
  chatId: string,
  agentId: string,
  now = Date.now(),
): Promise<
  | { chat: null; agent?: undefined; failure: Failure }
  | { chat: { ownerId: string; workspaceId: string }; agent: RunAgent; spend: Spend; memories: PromptMemory[] }
  | { chat: { ownerId: string; workspaceId: string }; agent?: undefined; failure: Failure }
> {
  const [found] = await db
    .select({
      ownerId: chats.ownerId,
      workspaceId: chats.workspaceId,
      agent: agents,
      member: workspaceAgents.agentId,
      spent: monthSpendSql(chats.ownerId, now),
      limit: budgetLimitSql(chats.ownerId),
      memories: promptMemoriesSql(chats.ownerId, agentId, PROMPT_FIRST_BATCH),
    })
    .from(chats)
    .leftJoin(agents, and(eq(agents.id, agentId), eq(agents.userId, chats.ownerId), isNull(agents.deletedAt)))
    .leftJoin(workspaceAgents, and(eq(workspaceAgents.agentId, agents.id), eq(workspaceAgents.workspaceId, chats.workspaceId)))
    .where(eq(chats.id, chatId))
    .limit(1);
  if (!found) return { chat: null, failure: fail('chat_not_found') };
  const chat = { ownerId: found.ownerId, workspaceId: found.workspaceId };
  const row = found.agent ? { agent: found.agent, member: found.member } : null;
  if (!row) return { chat, failure: fail('agent_not_found') };
  if (!row.member) return { chat, failure: fail('agent_not_in_workspace') };
  if (row.agent.status === 'offline') return { chat, failure: fail('agent_offline') };
  return { chat, agent: runAgentOf(row.agent), spend: spendOf(found.spent, found.limit), memories: JSON.parse(found.memories ?? '[]') as PromptMemory[] };
}

/**
 * A user's month-to-date spend and own limit, alone (one statement): for the HTTP route's new
 * chats (read beside the agent) and a queued follow-up run, which is admitted again when it starts.
 */
export async function loadSpend(db: Db, userId: string, now = Date.now()): Promise<Spend> {
  const row = await db.get<{ spent: number | null; lim: number | null }>(sql`SELECT ${monthSpendSql(userId, now)} AS spent, ${budgetLimitSql(userId)} AS lim`);
  return spendOf(row?.spent ?? 0, row?.lim ?? null);
}

const spendOf = (spent: unknown, limit: unknown): Spend => ({
  monthMicros: Number(spent ?? 0),
  limitMicros: limit === null || limit === undefined ? null : Number(limit),
});

/** Micro-USD as a price people read: `$5.00`, `$10.02`, and every digit below a cent when there is one (`$0.000001`). */
export function dollars(micros: number): string {
  const cents = micros % 10_000 === 0;
  const text = (micros / 1_000_000).toFixed(cents ? 2 : 6);
  return `$${cents ? text : text.replace(/0+$/, '')}`;
}

/**
 * Admission, before any model call: the agent's model must be on the operator's allow-list
 * (`LLM_MODELS`), and this month's spend must be under the user's own limit and under the
 * operator's `USER_MONTHLY_LIMIT_USD`. The refusal names whose limit it is (the lower one when
 * both are spent). Spend is read, not reserved: see README "How admission works" for what
 * concurrent runs can overshoot by.
 */
export function admit(cost: Config['cost'], agent: RunAgent, spend: Spend): Failure | null {
  if (cost.allowedModels !== null && !cost.allowedModels.includes(agent.model.name)) {
    return fail('model_not_allowed', `The agent's model ${JSON.stringify(agent.model.name)} is not one the operator allows (LLM_MODELS)`);
  }
  const spent = spend.monthMicros;
  const own = spend.limitMicros !== null && spent >= spend.limitMicros ? spend.limitMicros : null;
  const operator = cost.userMonthlyLimitMicros !== null && spent >= cost.userMonthlyLimitMicros ? cost.userMonthlyLimitMicros : null;
  if (own !== null && (operator === null || own <= operator)) {
    return fail('budget_exceeded', `Your monthly budget of ${dollars(own)} is spent (${dollars(spent)} this month)`);
  }
  if (operator !== null) {
    return fail('budget_exceeded', `The operator's monthly limit of ${dollars(operator)} per user is spent (${dollars(spent)} this month)`);
  }
  return null;
}
