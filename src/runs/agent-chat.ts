import { v5 } from 'uuid';
import { ownAgent } from '../agents/service';
import { addWorkspaceAgent } from '../agents/queries';
import { chatRoom, chatFailure, unwrap } from '../chats/room';
import { CHAT_NOT_FOUND, ownChat } from '../chats/service';
import { insertChat } from '../chats/queries';
import type { Db } from '../db/client';
import type { RunOutcome, StartedRun, StartRunInput } from '../durable/chat-runs';
import { fail } from '../durable/protocol';
import { admit, loadRunAgent, loadSpend, runAgentOf } from '../durable/run-agent';
import { config } from '../lib/config';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { jsonOrText } from '../lib/json';
import type { AuthUser, DataDeps } from '../lib/types';
import { insertWorkspaceIfAbsent } from '../workspaces/queries';
import { ownWorkspace } from '../workspaces/service';
import { ownRun } from './service';
import type { HistoryToolCall } from './schemas';

/**
 * Talking to an agent over HTTP (AgentArea's `POST /agents/{agent_id}/chat`): the conversation
 * is an ordinary chat, and the run executes in its Durable Object (src/durable/chat-runs.ts).
 * These functions check ownership in D1 and hand the rest to the object.
 */

export const AGENT_CHATS_WORKSPACE = 'Agent chats';
/** Namespace of the per-user "Agent chats" workspace id (UUIDv5 of the user id): one per user, race-free. */
const AGENT_CHATS_NS = '4f6c7a2e-2b1d-5c8e-9a3f-7d1e0b6c5a49';

/** The model must be configured before anything is stored: 503 `model_unavailable` naming the var. */
export function requireModel(env: Env) {
  if (!config(env).llm.baseUrl) {
    throw new ApiError(503, 'model_unavailable', 'No model endpoint is configured: set LLM_BASE_URL', { var: 'LLM_BASE_URL' });
  }
}

/** The user's one "Agent chats" workspace, made on first use. */
async function agentChatsWorkspace(db: Db, userId: string): Promise<string> {
  const id = v5(`agent-chats:${userId}`, AGENT_CHATS_NS);
  await insertWorkspaceIfAbsent(db, { id, ownerId: userId, name: AGENT_CHATS_WORKSPACE, now: Date.now() });
  return id;
}

export interface AgentChatInput {
  message: string;
  sessionId?: string;
  workspaceId?: string;
  stream: boolean;
  clientId?: string;
}

/**
 * Starts the agent's answer to `message` in the chat `sessionId`, or in a new chat (in
 * `workspaceId`, or the user's "Agent chats" workspace, which the agent joins).
 */
export async function startAgentChat(deps: DataDeps, user: AuthUser, agentId: string, input: AgentChatInput): Promise<StartedRun> {
  requireModel(deps.env);
  let chatId: string;
  let preloaded: NonNullable<StartRunInput['preloaded']>;
  if (input.sessionId !== undefined) {
    // One D1 read for the chat, the agent and the membership (on the way to the first token); the
    // object trusts it rather than reading again.
    const loaded = await loadRunAgent(deps.db, input.sessionId, agentId);
    if (!loaded.chat || loaded.chat.ownerId !== user.id) {
      await ownAgent(deps.db, user.id, agentId); // the agent's 404 first, as without session_id
      throw notFound(CHAT_NOT_FOUND, 'chat_not_found');
    }
    if (!loaded.agent) throw chatFailure(loaded.failure);
    // Admission (the model allowed, the budget not spent) before anything is stored or asked.
    const refusal = admit(config(deps.env).cost, loaded.agent, loaded.spend);
    if (refusal) throw chatFailure(refusal);
    chatId = input.sessionId;
    preloaded = { agent: loaded.agent, workspaceId: loaded.chat.workspaceId, memories: loaded.memories };
  } else {
    // The agent and the user's spend, read side by side (admission needs both before any chat is made).
    const [agent, spend] = await Promise.all([ownAgent(deps.db, user.id, agentId), loadSpend(deps.db, user.id)]);
    // Here, so that a stopped agent or a refused run leaves no empty chat behind.
    if (agent.status === 'offline') throw chatFailure(fail('agent_offline'));
    const refusal = admit(config(deps.env).cost, runAgentOf(agent), spend);
    if (refusal) throw chatFailure(refusal);
    const workspaceId = input.workspaceId !== undefined ? (await ownWorkspace(deps.db, user.id, input.workspaceId)).id : await agentChatsWorkspace(deps.db, user.id);
    const now = Date.now();
    await addWorkspaceAgent(deps.db, workspaceId, agent.id, now);
    chatId = (await insertChat(deps.db, { id: newId(), workspaceId, ownerId: user.id, title: `Chat with ${agent.name}`.slice(0, 200), now }))!.id; // null only with an agentId
    preloaded = { agent: runAgentOf(agent), workspaceId };
  }
  const started = await chatRoom(deps.env, chatId).startRun(chatId, {
    agentId,
    userId: user.id,
    trigger: 'http',
    message: { content: input.message, role: 'user', clientId: input.clientId ?? null },
    stream: input.stream,
    preloaded,
  });
  return unwrap(started).run;
}

/**
 * Starts an agent's run from code (processes, workflows): the agent answers the chat as it
 * stands, after `message` (stored as a system message) if one is given. The same checks as every
 * other start (the agent live, the user's, in the chat's workspace, free); a refusal is the
 * object's Failure, returned rather than thrown.
 */
export async function startRunFromCode(env: Env, input: { chatId: string; agentId: string; userId: string; message?: string }) {
  return chatRoom(env, input.chatId).startRun(input.chatId, {
    agentId: input.agentId,
    userId: input.userId,
    trigger: 'code',
    ...(input.message === undefined ? {} : { message: { content: input.message, role: 'system' as const } }),
  });
}

/** Waits for the run to end; a failed run is its error (502 model_error, 503 model_unavailable, ...) with its run_id. */
export async function awaitAnswer(env: Env, run: StartedRun): Promise<RunOutcome> {
  const { outcome } = unwrap(await chatRoom(env, run.chat_id).awaitRun(run.run_id));
  if (outcome.status === 'failed' && outcome.error) {
    const f = chatFailure({ ok: false, code: outcome.error.code as never, msg: outcome.error.msg });
    throw new ApiError(f.status, f.code, f.msg, { ...f.extra, run_id: run.run_id, session_id: run.chat_id });
  }
  return outcome;
}

/** The 003 answer of a finished turn. */
export const answerJson = (o: RunOutcome) => ({
  id: o.message_id,
  message: o.text,
  session_id: o.chat_id,
  timestamp: o.finished_at,
  metadata: o.metadata,
  run_id: o.run_id,
  status: o.status,
  tasks: JSON.parse(o.tasks) as Record<string, unknown>[],
  required_action: o.required_action
    ? { tool_calls: o.required_action.tool_calls.map((c) => ({ call_id: c.call_id, name: c.name, arguments: jsonOrText(c.arguments) })) }
    : null,
  pending_approvals: o.pending_approvals?.map((c) => ({ ...c, arguments: jsonOrText(c.arguments) })) ?? null,
});


/**
 * POST /runs/{run_id}/tool-outputs: the client's outputs for the calls the run waits on. The run
 * resumes once every call of the step has one; the answer is then like the chat route's (the
 * run's end, or its events with `stream`), else the run as it still waits.
 */
export async function submitToolOutputs(deps: DataDeps, userId: string, runId: string, input: { outputs: { call_id: string; output: string }[]; stream: boolean }) {
  const run = await ownRun(deps.db, userId, runId);
  const room = chatRoom(deps.env, run.chatId);
  const submitted = unwrap(await room.submitToolOutputs(run.id, input.outputs, input.stream));
  if (submitted.run.stream) return { stream: submitted.run.stream };
  if (submitted.waiting.length) return { answer: answerJson(unwrap(await room.awaitRun(run.id)).outcome) };
  return { answer: answerJson(await awaitAnswer(deps.env, submitted.run)) };
}

/** The SSE response of a run's stream. */
export const sseResponse = (stream: ReadableStream<Uint8Array>) =>
  new Response(stream, {
    headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' },
  });

/** GET /runs/{run_id}/events: the caller's run, re-attached from Last-Event-ID. */
export async function runEvents(deps: DataDeps, userId: string, runId: string, lastEventId: string | null) {
  const run = await ownRun(deps.db, userId, runId);
  return unwrap(await chatRoom(deps.env, run.chatId).runEvents(run.id, lastEventId)).stream;
}

/** POST /runs/{run_id}/cancel: 409 run_not_active once it has ended. */
export async function cancelRun(deps: DataDeps, userId: string, runId: string) {
  const run = await ownRun(deps.db, userId, runId);
  return unwrap(await chatRoom(deps.env, run.chatId).cancelRun(run.id)).outcome;
}

/** GET /agents/{agent_id}/chat/history: the chat's messages, newest first, before an exclusive seq. */
export async function agentChatHistory(deps: DataDeps, userId: string, agentId: string, q: { sessionId: string; limit: number; before?: number }) {
  await ownAgent(deps.db, userId, agentId);
  const chat = await ownChat(deps.db, userId, q.sessionId);
  const h = unwrap(await chatRoom(deps.env, chat.id).historyBefore(q.before ?? null, q.limit + 1));
  const rounds = JSON.parse(h.toolRounds) as Record<string, { run_id: string; tool_calls: HistoryToolCall[] }>;
  // An agent reply shows the tool rounds of the run that wrote it.
  const messages = h.messages.slice(0, q.limit).map((m) => ({ ...m, run_id: rounds[m.message_id]?.run_id ?? null, tool_calls: rounds[m.message_id]?.tool_calls ?? [] }));
  return { messages, next_before: h.messages.length > q.limit ? messages[messages.length - 1].seq : null };
}
