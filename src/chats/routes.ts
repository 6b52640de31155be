import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { issuedJson, type StringKind } from '../durable/protocol';
import { ApiError } from '../lib/errors';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import type { AppEnv } from '../lib/types';
import { NOT_OWNER, NO_ACCESS, WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { Workspace, workspaceJson } from '../workspaces/schemas';
import { afterSeqError, Chat, chatErrors, chatJson, ChatMessage, chatQuery, Issued, queryParam as q, TITLE_MAX } from './schemas';
import { authorize, chatHistory, createChat, listChatsOf, openSocket, ownedChat, removeChat } from './service';

const chatList = okJson(z.object({ chats: z.array(Chat), next_cursor: nextCursorSchema }));
const listErrors = { 400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100') };

/** GET /chat/authorize and /chat/authorize/message differ only in the kind of string. */
const authorizeRoute = (kind: StringKind, path: string, summary: string) =>
  defineRoute('bearer', {
    method: 'get',
    path,
    tags: ['Chats'],
    summary,
    request: { query: chatQuery },
    responses: { 200: okJson(Issued(`${kind}_string`)), ...chatErrors },
  });
const issue = async (c: Context<AppEnv>, kind: StringKind, chatId: string) => {
  const user = c.get('user');
  const { chat, issued } = await authorize(depsOf(c), user, chatId, kind);
  return c.json(issuedJson(kind, chat.id, user.id, issued), 200);
};

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
      const input = { workspaceId: c.req.valid('query').workspace_id, title: c.req.valid('json').title ?? null };
      const { chat, workspace } = await createChat(c.get('db'), c.get('user').id, input);
      return c.json({ msg: 'Chat created successfully', chat: chatJson(chat), workspace: workspaceJson(workspace) }, 200);
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
    async (c) => c.json(chatJson(await ownedChat(c.get('db'), c.get('user').id, c.req.valid('query').chat_id)), 200),
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
      await removeChat(depsOf(c), c.get('user').id, c.req.valid('query').chat_id);
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
      responses: { 200: chatList, ...listErrors, 403: errorResponse(NO_ACCESS), 404: errorResponse(WORKSPACE_NOT_FOUND) },
    }),
    async (c) => {
      const input = { ...c.req.valid('query'), workspaceId: c.req.valid('param').workspace_id };
      const { items, nextCursor } = await listChatsOf(c.get('db'), c.get('user').id, input);
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
      responses: { 200: chatList, ...listErrors },
    }),
    async (c) => {
      const { items, nextCursor } = await listChatsOf(c.get('db'), c.get('user').id, c.req.valid('query'));
      return c.json({ chats: items.map(chatJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    authorizeRoute('connection', '/chat/authorize', 'A single-use connection string for GET /chat/ws (CONNECTION_STRING_TTL_SECONDS)'),
    (c) => issue(c, 'connection', c.req.valid('query').chat_id),
  )
  .openapi(
    authorizeRoute('message', '/chat/authorize/message', 'A message string: authorizes one message frame (MESSAGE_STRING_TTL_SECONDS)'),
    (c) => issue(c, 'message', c.req.valid('query').chat_id),
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
            .number({ error: afterSeqError })
            .int({ error: afterSeqError })
            .min(0, { error: afterSeqError })
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
      const h = await chatHistory(depsOf(c), c.get('user').id, { chatId: chat_id, afterSeq: after_seq, limit });
      return c.json({ messages: h.messages, next_after_seq: h.nextAfterSeq, last_seq: h.lastSeq }, 200);
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
          after_seq: z.string().regex(/^\d{1,15}$/, { error: afterSeqError }).optional().openapi(q('after_seq')),
          batch: z.enum(['0', '1'], { error: 'batch must be 0 or 1' }).optional().openapi(q('batch')),
        }),
      },
      responses: {
        101: { description: 'Switching Protocols' },
        400: errorResponse('Missing chat id'),
        401: errorResponse('Missing connection string', 'Invalid connection string', 'Connection string has expired', 'Session has been revoked'),
        404: errorResponse('Chat not found'),
        426: errorResponse('Expected Upgrade: websocket'),
        503: chatErrors[503],
      },
    }),
    async (c) => {
      if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') throw new ApiError(426, 'upgrade_required', 'Expected Upgrade: websocket');
      const { chat_id, connection_string } = c.req.valid('query');
      return openSocket(depsOf(c), { chatId: chat_id, connectionString: connection_string, request: c.req.raw });
    },
  );
