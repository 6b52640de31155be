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

/**
 * The chat object's one D1 read for a run: the chat's owner and workspace, and the agent if the
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
  const [chat] = await db.select({ ownerId: chats.ownerId, workspaceId: chats.workspaceId }).from(chats).where(eq(chats.id, chatId)).limit(1);
  if (!chat) return { chat: null, failure: fail('chat_not_found') };
  const [row] = await db
    .select({ agent: agents, member: workspaceAgents.agentId })
    .from(agents)
    .leftJoin(workspaceAgents, and(eq(workspaceAgents.agentId, agents.id), eq(workspaceAgents.workspaceId, chat.workspaceId)))
    .where(and(eq(agents.id, agentId), eq(agents.userId, chat.ownerId), isNull(agents.deletedAt)))
    .limit(1);
  if (!row) return { chat, failure: fail('agent_not_found') };
  if (!row.member) return { chat, failure: fail('agent_not_in_workspace') };
  if (row.agent.status === 'offline') return { chat, failure: fail('agent_offline') };
  const agent: RunAgent = {
    agentId: row.agent.id,
    name: row.agent.name,
    systemPrompt: row.agent.systemPrompt,
    model: JSON.parse(row.agent.model) as RunAgent['model'],
  };
  return { chat, agent };
}
