import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client';
import { agents, chats, workspaceAgents } from '../db/schema';
import { fail, type Failure } from './protocol';

/** What a run needs of its agent, copied when the run is admitted (an edit later does not change a live run). */
export interface RunAgent {
  agentId: string;
  name: string;
  systemPrompt: string;
  model: { provider: string; name: string; temperature?: number; top_p?: number; max_tokens?: number };
}

/** The part of an agent row a run copies. */
export const runAgentOf = (a: typeof agents.$inferSelect): RunAgent => ({
  agentId: a.id,
  name: a.name,
  systemPrompt: a.systemPrompt,
  model: JSON.parse(a.model) as RunAgent['model'],
});

export type LoadedRunAgent = Awaited<ReturnType<typeof loadRunAgent>>;

/**
 * The one D1 read a run needs for a run (one statement): the chat's owner and workspace, and the agent if the
 * owner has it live, with whether it is in that workspace. Every way a run starts (the HTTP
 * route, a chat message, code) is checked here, so the checks are the same everywhere.
 */
export async function loadRunAgent(
  db: Db,
  chatId: string,
  agentId: string,
): Promise<
  | { chat: null; agent?: undefined; failure: Failure }
  | { chat: { ownerId: string; workspaceId: string }; agent: RunAgent }
  | { chat: { ownerId: string; workspaceId: string }; agent?: undefined; failure: Failure }
> {
  // One statement (it is on every run's path to the model): the chat, and the agent if it is live and the owner's.
  const [found] = await db
    .select({ ownerId: chats.ownerId, workspaceId: chats.workspaceId, agent: agents, member: workspaceAgents.agentId })
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
  return { chat, agent: runAgentOf(row.agent) };
}
