import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { runCleanupJobs } from '../outbox/outbox';
import { type ChatRow, deleteChat, findChat, insertChat, listChats, recordSessionChat } from './queries';
import { chatRoom } from './room';
import { issuedJson } from '../durable/chat-frames';
import type { StringKind } from '../durable/chat-store';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { AppEnv } from '../lib/types';
import { NOT_OWNER, NO_ACCESS, WORKSPACE_NOT_FOUND, ownedWorkspace } from '../workspaces/service';
import { Workspace, workspaceJson } from '../workspaces/routes';

const CHAT_NOT_FOUND = 'Chat not found';
const NOT_CHAT_OWNER = 'User is not the owner of the chat';
const TITLE_MAX = 200;

/** Seed 000's chat fields (POST answers `created_by`, GET answers `owner`: both carry the owner). */
export const Chat = z
  .object({
    chat_id: z.string(),
    workspace_id: z.string(),
    owner: z.string(),
    created_by: z.string(),
    title: z.string().nullable(),
    created_at: z.string(),
  })
  .openapi('Chat');

const ChatMessage = z
  .object({
    message_id: z.string(),
    chat_id: z.string(),
    seq: z.number().int(),
    sender_id: z.string(),
    role: z.enum(['user', 'system', 'agent']),
    content: z.string(),
    created_at: z.string(),
    client_id: z.string().nullable(),
  })
  .openapi('ChatMessage');

export const chatJson = (c: ChatRow) => ({
  chat_id: c.id,
  workspace_id: c.workspaceId,
  owner: c.ownerId,
  created_by: c.ownerId,
  title: c.title,
  created_at: iso(c.createdAt),
});

const q = (name: string) => ({ param: { name, in: 'query' as const } });
const chatQuery = z.object({ chat_id: requiredString('Missing chat id').openapi(q('chat_id')) });
const chatErrors = {
  400: errorResponse('Missing chat id'),
  401: errorResponse(NOT_CHAT_OWNER, 'Missing Authorization Header', 'Invalid token', 'Token has expired', 'Session has been revoked'),
  404: errorResponse(CHAT_NOT_FOUND),
};
const Issued = (field: string) =>
  z.object({
    [field]: z.string(),
    string: z.string(),
    chat_id: z.string(),
    created_at: z.number().int().openapi({ description: 'Unix epoch seconds' }),
    expires_at: z.number().int().openapi({ description: 'Unix epoch seconds' }),
    created_by: z.string(),
  });
const chatList = okJson(z.object({ chats: z.array(Chat), next_cursor: nextCursorSchema }));

const chatNotFound = () => notFound(CHAT_NOT_FOUND, 'chat_not_found');

/** Seed 000: an unknown chat is 404, another user's is 401 with its own string. */
async function ownedChat(c: Context<AppEnv>, chatId: string): Promise<ChatRow> {
  const chat = await findChat(c.get('db'), chatId);
  if (!chat) throw chatNotFound();
  if (chat.ownerId !== c.get('user').id) throw new ApiError(401, 'not_chat_owner', NOT_CHAT_OWNER);
  return chat;
}

/** Only the chat's object issues strings; connection strings are also recorded for revocation. */
async function issue(c: Context<AppEnv>, chatId: string, kind: StringKind) {
  const chat = await ownedChat(c, chatId);
  const user = c.get('user');
  if (kind === 'connection') {
    // A chat deleted since ownedChat fails the foreign key: answer as the deleted chat it is.
    await recordSessionChat(c.get('db'), user.sessionId, chat.id, Date.now()).catch(async (err) => {
      throw (await findChat(c.get('db'), chat.id)) ? err : chatNotFound();
    });
  }
  const issued = await chatRoom(c.env, chat.id).issue(chat.id, kind, user.id, user.sessionId);
  if (!issued) throw chatNotFound();
  return c.json(issuedJson(kind, chat.id, user.id, issued), 200);
}

export const chatRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/chat',
      tags: ['Chats'],
      summary: 'Create a chat in a workspace',
      request: {
        query: z.object({ workspace_id: requiredString('Missing workspace id').openapi(q('workspace_id')) }),
        body: {
          required: false,
          content: {
            'application/json': {
              schema: z.object({
                title: requiredString('Missing title parameter').max(TITLE_MAX, { error: `title must be at most ${TITLE_MAX} characters` }).optional(),
              }),
            },
          },
        },
      },
      responses: {
        200: okJson(z.object({ msg: z.string(), chat: Chat, workspace: Workspace })),
        400: errorResponse('Missing workspace id', 'Missing JSON in request', 'Missing title parameter'),
        401: errorResponse(NOT_OWNER),
        404: errorResponse(WORKSPACE_NOT_FOUND),
      },
    }),
    async (c) => {
      const db = c.get('db');
      const userId = c.get('user').id;
      const w = await ownedWorkspace(db, userId, c.req.valid('query').workspace_id, new ApiError(401, 'not_workspace_owner', NOT_OWNER));
      const title = c.req.valid('json').title ?? null;
      const chat = await insertChat(db, { id: newId(), workspaceId: w.id, ownerId: userId, title, now: Date.now() });
      return c.json({ msg: 'Chat created successfully', chat: chatJson(chat), workspace: workspaceJson(w) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat',
      tags: ['Chats'],
      summary: 'One chat',
      request: { query: chatQuery },
      responses: { 200: okJson(Chat), ...chatErrors },
    }),
    async (c) => c.json(chatJson(await ownedChat(c, c.req.valid('query').chat_id)), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/chat',
      tags: ['Chats'],
      summary: 'Delete a chat, its messages and its open sockets',
      request: { query: chatQuery },
      responses: { 200: okJson(z.object({ msg: z.string() })), ...chatErrors },
    }),
    async (c) => {
      const chat = await ownedChat(c, c.req.valid('query').chat_id);
      const jobId = await deleteChat(c.get('db'), chat.id, Date.now());
      c.executionCtx.waitUntil(runCleanupJobs(c.env, [jobId]));
      return c.json({ msg: 'Chat deleted successfully' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/workspace/{workspace_id}/chats',
      tags: ['Chats'],
      summary: "A workspace's chats, newest first, paginated",
      request: {
        params: z.object({ workspace_id: z.string().openapi({ param: { name: 'workspace_id', in: 'path' } }) }),
        query: pageQuery,
      },
      responses: {
        200: chatList,
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
        403: errorResponse(NO_ACCESS),
        404: errorResponse(WORKSPACE_NOT_FOUND),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const userId = c.get('user').id;
      const w = await ownedWorkspace(c.get('db'), userId, c.req.valid('param').workspace_id);
      const { items, nextCursor } = page(await listChats(c.get('db'), { ownerId: userId, workspaceId: w.id }, limit, cursor), limit);
      return c.json({ chats: items.map(chatJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chats',
      tags: ['Chats'],
      summary: "All of the user's chats, newest first, paginated",
      request: { query: pageQuery },
      responses: { 200: chatList, 400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100') },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = page(await listChats(c.get('db'), { ownerId: c.get('user').id }, limit, cursor), limit);
      return c.json({ chats: items.map(chatJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat/authorize',
      tags: ['Chats'],
      summary: 'A single-use connection string for GET /chat/ws (CONNECTION_STRING_TTL_SECONDS)',
      request: { query: chatQuery },
      responses: { 200: okJson(Issued('connection_string')), ...chatErrors },
    }),
    (c) => issue(c, c.req.valid('query').chat_id, 'connection'),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat/authorize/message',
      tags: ['Chats'],
      summary: 'A message string: authorizes one message frame (MESSAGE_STRING_TTL_SECONDS)',
      request: { query: chatQuery },
      responses: { 200: okJson(Issued('message_string')), ...chatErrors },
    }),
    (c) => issue(c, c.req.valid('query').chat_id, 'message'),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat/messages',
      tags: ['Chats'],
      summary: 'Message history in seq order: the messages after `after_seq`, paginated',
      request: {
        query: chatQuery.extend({
          after_seq: z.coerce
            .number({ error: 'after_seq must be a non-negative integer' })
            .int({ error: 'after_seq must be a non-negative integer' })
            .min(0, { error: 'after_seq must be a non-negative integer' })
            .default(0)
            .openapi(q('after_seq')),
          limit: pageQuery.shape.limit,
        }),
      },
      responses: {
        200: okJson(
          z.object({
            messages: z.array(ChatMessage),
            next_after_seq: z.number().int().nullable().openapi({ description: 'Pass as after_seq for the next page' }),
            last_seq: z.number().int(),
          }),
        ),
        ...chatErrors,
      },
    }),
    async (c) => {
      const { chat_id, after_seq, limit } = c.req.valid('query');
      const chat = await ownedChat(c, chat_id);
      const h = await chatRoom(c.env, chat.id).history(after_seq, limit + 1);
      if (!h) throw chatNotFound();
      const messages = h.messages.slice(0, limit);
      const more = h.messages.length > limit;
      return c.json({ messages, next_after_seq: more ? messages[messages.length - 1].seq : null, last_seq: h.last_seq }, 200);
    },
  )
  .openapi(
    defineRoute('connection-string', {
      method: 'get',
      path: '/chat/ws',
      tags: ['Chats'],
      summary: 'Open the chat WebSocket (Upgrade: websocket) with a connection string; see the README for frames',
      request: {
        query: chatQuery.extend({
          connection_string: z.string().optional().openapi(q('connection_string')),
          after_seq: z.string().regex(/^\d{1,15}$/, { error: 'after_seq must be a non-negative integer' }).optional().openapi(q('after_seq')),
          batch: z.enum(['0', '1'], { error: 'batch must be 0 or 1' }).optional().openapi(q('batch')),
        }),
      },
      responses: {
        101: { description: 'Switching Protocols' },
        400: errorResponse('Missing chat id'),
        401: errorResponse('Missing connection string', 'Invalid connection string', 'Connection string has expired'),
        404: errorResponse(CHAT_NOT_FOUND),
        426: errorResponse('Expected Upgrade: websocket'),
      },
    }),
    async (c) => {
      const { chat_id, connection_string } = c.req.valid('query');
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
        throw new ApiError(426, 'upgrade_required', 'Expected Upgrade: websocket');
      }
      // D1 first: a deleted chat's object is never woken.
      if (!(await findChat(c.get('db'), chat_id))) throw chatNotFound();
      if (!connection_string) throw new ApiError(401, 'missing_connection_string', 'Missing connection string');
      const res = await chatRoom(c.env, chat_id).fetch(c.req.raw);
      if (res.status === 101) return res;
      const body = (await res.json()) as { msg: string; code: string };
      throw new ApiError(res.status as 401 | 404, body.code, body.msg);
    },
  );
