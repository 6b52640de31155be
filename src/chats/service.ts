import { ownAgent } from '../agents/service';
import type { Db } from '../db/client';
import { type Issued, readRefusal, type StringKind } from '../durable/protocol';
import { chatOfSid, EIO_ERRORS, EIO_PROTOCOL, eioErrorResponse } from '../durable/socketio';
import { ApiError, conflict, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import type { AuthUser, DataDeps, Deps } from '../lib/types';
import { runJobsSoon } from '../outbox/outbox';
import { findWorkspace, type Workspace } from '../workspaces/queries';
import { NOT_OWNER, ownedWorkspace } from '../workspaces/service';
import { type ChatRow, deleteChat, findChat, insertChat, listChats, recordSessionChat, setChatAgent } from './queries';
import { chatFailure, chatRoom, unwrap } from './room';

/**
 * The chats area's logic, for its routes (src/chats/routes.ts): plain inputs (dependencies, the
 * acting user, the input), never a Hono Context. Errors are thrown as ApiError with the upstream contract's
 * strings; the chat object's refusals go through room.ts's unwrap.
 */
export const CHAT_NOT_FOUND = 'Chat not found';
export const NOT_CHAT_OWNER = 'User is not the owner of the chat';
export const AGENT_NOT_IN_WORKSPACE = "The agent is not in this chat's workspace";
const chatNotFound = () => notFound(CHAT_NOT_FOUND, 'chat_not_found');
const notInWorkspace = () => conflict(AGENT_NOT_IN_WORKSPACE, 'agent_not_in_workspace');

/** Our routes (and actions that name a chat): another user's chat is the same 404 as an unknown one. */
export async function ownChat(db: Db, userId: string, chatId: string): Promise<ChatRow> {
  return owned(await findChat(db, chatId), userId, chatNotFound);
}

/** Upstream contract: an unknown chat is 404, another user's is 401 with its own string. */
export async function ownedChat(db: Db, userId: string, chatId: string): Promise<ChatRow> {
  return owned(await findChat(db, chatId), userId, chatNotFound, () => new ApiError(401, 'not_chat_owner', NOT_CHAT_OWNER));
}

/**
 * A chat's default agent must be the caller's live agent (else 404 `Agent not found`, as for an
 * unknown one) and in the chat's workspace (else 409 `agent_not_in_workspace`).
 */
async function checkDefaultAgent(db: Db, userId: string, workspace: Workspace | null, agentId: string): Promise<string> {
  const agent = await ownAgent(db, userId, agentId);
  if (!workspace?.agents.includes(agent.id)) throw notInWorkspace();
  return agent.id;
}

/**
 * Sets the chat's default agent in the chat's Durable Object first (it is the one that acts on
 * it), then in D1 with `write`. When the D1 write fails or matches nothing, the object is set
 * back to what D1 holds, so the two agree again; `write`'s row (or null) is returned.
 */
async function withDefaultAgent(env: Env, db: Db, chatId: string, agentId: string | null, write: () => Promise<ChatRow | null>) {
  unwrap(await chatRoom(env, chatId).setDefaultAgent(chatId, agentId));
  const setBack = async () => {
    try {
      const stored = (await findChat(db, chatId))?.agentId ?? null;
      if (stored !== agentId) unwrap(await chatRoom(env, chatId).setDefaultAgent(chatId, stored));
    } catch (err) {
      console.error(JSON.stringify({ msg: "could not set the chat object's default agent back", chat_id: chatId, error: String(err) }));
    }
  };
  let row: ChatRow | null;
  try {
    row = await write();
  } catch (err) {
    await setBack();
    throw err;
  }
  if (!row) await setBack();
  return row;
}

/**
 * Upstream contract: another user's workspace is 401 `User is not the owner of the workspace`
 * here. With `agentId` (ours, optional) the chat starts with that default agent.
 */
export async function createChat(
  { db, env }: DataDeps,
  userId: string,
  input: { workspaceId: string; title: string | null; agentId?: string },
): Promise<{ chat: ChatRow; workspace: Workspace }> {
  const foreign = () => new ApiError(401, 'not_workspace_owner', NOT_OWNER);
  const workspace = await ownedWorkspace(db, userId, input.workspaceId, foreign());
  const values = { id: newId(), workspaceId: workspace.id, ownerId: userId, title: input.title, now: Date.now() };
  if (input.agentId === undefined) return { chat: (await insertChat(db, values))!, workspace };
  const agentId = await checkDefaultAgent(db, userId, workspace, input.agentId);
  const chat = await withDefaultAgent(env, db, values.id, agentId, () => insertChat(db, { ...values, agentId }));
  if (chat) return { chat, workspace };
  // The agent or the workspace changed since the checks: answer as they are now.
  await checkDefaultAgent(db, userId, await ownedWorkspace(db, userId, workspace.id, foreign()), agentId);
  throw notInWorkspace();
}

/**
 * PUT /chat/agent: sets or (null) clears the chat's default agent. Our route: another user's
 * chat is 404 `Chat not found`, like an unknown one.
 */
export async function setDefaultAgent({ db, env }: DataDeps, userId: string, chatId: string, agentId: string | null): Promise<ChatRow> {
  const chat = await ownChat(db, userId, chatId);
  const workspaceOf = (c: ChatRow) => findWorkspace(db, c.workspaceId);
  const id = agentId === null ? null : await checkDefaultAgent(db, userId, await workspaceOf(chat), agentId);
  const row = await withDefaultAgent(env, db, chat.id, id, () => setChatAgent(db, userId, chat.id, id));
  if (row) return row;
  // Nothing matched: the chat, the agent or its workspace membership changed since the checks.
  const now = await ownChat(db, userId, chat.id);
  if (id === null) throw chatNotFound();
  await checkDefaultAgent(db, userId, await workspaceOf(now), id);
  throw notInWorkspace();
}

/** Deletes the chat row; its object's cleanup is an outbox job, run after the response. */
export async function removeChat(deps: Deps, userId: string, chatId: string) {
  const chat = await ownedChat(deps.db, userId, chatId);
  const job = await deleteChat(deps.db, chat.id, Date.now());
  runJobsSoon(deps.env, deps.waitUntil, [job]);
}

/** A page of the user's chats: in one workspace (upstream contract: another user's is 403), or all of them. */
export async function listChatsOf(db: Db, userId: string, input: { workspaceId?: string; limit: number; cursor?: string }) {
  const workspaceId = input.workspaceId === undefined ? undefined : (await ownedWorkspace(db, userId, input.workspaceId)).id;
  return page(await listChats(db, { ownerId: userId, workspaceId }, input.limit, input.cursor), input.limit);
}

/** Only the chat's object issues strings; connection strings are also recorded for revocation. */
export async function authorize(deps: DataDeps, user: AuthUser, chatId: string, kind: StringKind): Promise<{ chat: ChatRow; issued: Issued }> {
  const chat = await ownedChat(deps.db, user.id, chatId);
  if (kind === 'connection') {
    // A chat deleted since ownedChat fails the foreign key: answer as the deleted chat it is.
    await recordSessionChat(deps.db, user.sessionId, chat.id, Date.now()).catch(async (err) => {
      throw (await findChat(deps.db, chat.id)) ? err : chatNotFound();
    });
  }
  const { issued } = unwrap(await chatRoom(deps.env, chat.id).issue(chat.id, kind, user.id, user.sessionId));
  return { chat, issued };
}

/** Messages after `afterSeq`, in seq order; one more is read to know whether a next page exists. */
export async function chatHistory(deps: DataDeps, userId: string, input: { chatId: string; afterSeq: number; limit: number }) {
  const chat = await ownChat(deps.db, userId, input.chatId);
  const h = unwrap(await chatRoom(deps.env, chat.id).history(input.afterSeq, input.limit + 1));
  const messages = h.messages.slice(0, input.limit);
  const nextAfterSeq = h.messages.length > input.limit ? messages[messages.length - 1].seq : null;
  return { messages, nextAfterSeq, lastSeq: h.lastSeq };
}

/**
 * Opens a chat socket: D1 first (a deleted chat's object is never woken), then the object checks
 * the connection string and answers the 101 itself; its refusal becomes our error body.
 */
export async function openSocket(deps: DataDeps, input: { chatId: string; connectionString?: string; request: Request }): Promise<Response> {
  if (!(await findChat(deps.db, input.chatId))) throw chatNotFound();
  if (!input.connectionString) throw new ApiError(401, 'missing_connection_string', 'Missing connection string');
  const res = await chatRoom(deps.env, input.chatId).fetch(input.request);
  if (res.status === 101) return res;
  throw chatFailure(await readRefusal(res));
}

/**
 * A Socket.IO request (/socket.io/, Engine.IO v4: src/durable/chat-socketio.ts). Engine.IO's own
 * errors first (version, transport, handshake method), as its clients expect them. A request
 * with a `sid` goes to the chat its sid names, whatever its query says. A handshake checks D1 as
 * GET /chat/ws does (404 for an unknown or deleted chat, 401 without a connection string); the
 * object checks the string, and a refusal is the CONNECT_ERROR of the /chat namespace.
 */
export async function openSocketIo(deps: DataDeps, request: Request, chatIdOf: () => string): Promise<Response> {
  const url = new URL(request.url);
  if (url.searchParams.get('EIO') !== EIO_PROTOCOL) return eioErrorResponse(EIO_ERRORS.unsupportedVersion);
  const transport = url.searchParams.get('transport');
  if (transport !== 'polling' && transport !== 'websocket') return eioErrorResponse(EIO_ERRORS.unknownTransport);
  const sid = url.searchParams.get('sid');
  if (sid !== null) {
    const sidChat = chatOfSid(sid);
    return sidChat ? chatRoom(deps.env, sidChat).fetch(request) : eioErrorResponse(EIO_ERRORS.unknownSid);
  }
  if (request.method !== 'GET') return eioErrorResponse(EIO_ERRORS.badHandshakeMethod);
  if (transport === 'websocket' && request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return eioErrorResponse(EIO_ERRORS.badRequest);
  const chatId = chatIdOf();
  if (!(await findChat(deps.db, chatId))) throw chatNotFound();
  if (!url.searchParams.get('connection_string')) throw new ApiError(401, 'missing_connection_string', 'Missing connection string');
  const res = await chatRoom(deps.env, chatId).fetch(request);
  if (res.ok || res.status === 101) return res;
  throw chatFailure(await readRefusal(res));
}
