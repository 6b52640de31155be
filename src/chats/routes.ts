import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { issuedJson, type StringKind } from '../durable/protocol';
import { ApiError } from '../lib/errors';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson, requiredString } from '../lib/router';
import type { AppEnv } from '../lib/types';
import { AGENT_NOT_FOUND } from '../agents/service';
import { NOT_OWNER, NO_ACCESS, WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { Workspace, workspaceJson } from '../workspaces/schemas';
import {
  afterSeqError, AGENT_ID_ERROR, Chat, chatAgentBody, chatErrors, chatJson, ChatMessage, chatQuery, Issued, queryParam as q, TITLE_MAX,
} from './schemas';
import {
  AGENT_NOT_IN_WORKSPACE, authorize, CHAT_NOT_FOUND, chatHistory, createChat, listChatsOf, openSocket, openSocketIo, ownedChat, removeChat, setDefaultAgent,
} from './service';

const chatList = okJson(z.object({ chats: z.array(Chat), next_cursor: nextCursorSchema }));
const listErrors = { 400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100') };

/** GET /chat/authorize and /chat/authorize/message differ only in the kind of string. */
const authorizeRoute = (kind: StringKind, path: string, summary: string, operationId: string, description: string) =>
  defineRoute('bearer', {
    method: 'get',
    path,
    tags: ['Chats'],
    summary,
    operationId,
    description,
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
      operationId: 'createChat',
      description:
        'Upstream contract: creates a chat in the workspace named by the `workspace_id` query parameter and answers 200 (not 201) with the chat and its workspace. The body (`title`) is optional. 404 `Workspace not found`; another user\'s workspace is 401 `User is not the owner of the workspace`. Optional `agent_id` (ours, not the contract\'s) makes one of your agents the chat\'s default agent, which answers every message that names no agent: it must be in the workspace (409 `agent_not_in_workspace` otherwise; 404 `Agent not found` for an unknown or another user\'s agent).',
      request: {
        query: z.object({
          workspace_id: requiredString('Missing workspace id').openapi(q('workspace_id')),
          agent_id: z.string().optional().openapi({ ...q('agent_id'), description: "The chat's default agent (an agent_id from GET /agents, in the workspace)" }),
        }),
        body: {
          required: false,
          content: {
            'application/json': {
              schema: z
                .object({
                  title: requiredString('Missing title parameter').max(TITLE_MAX, { error: `title must be at most ${TITLE_MAX} characters` }).optional(),
                })
                .openapi({ example: { title: 'Weekly planning' } }),
            },
          },
        },
      },
      responses: {
        200: okJson(z.object({ msg: z.string(), chat: Chat, workspace: Workspace })),
        400: errorResponse('Missing workspace id', 'Missing JSON in request', 'Missing title parameter'),
        401: errorResponse(NOT_OWNER),
        404: errorResponse(WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(AGENT_NOT_IN_WORKSPACE),
      },
    }),
    async (c) => {
      const { workspace_id, agent_id } = c.req.valid('query');
      const input = { workspaceId: workspace_id, title: c.req.valid('json').title ?? null, agentId: agent_id };
      const { chat, workspace } = await createChat(depsOf(c), c.get('user').id, input);
      return c.json({ msg: 'Chat created successfully', chat: chatJson(chat), workspace: workspaceJson(workspace) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat',
      tags: ['Chats'],
      summary: 'One chat',
      operationId: 'getChat',
      description:
        'Upstream contract: one chat by `chat_id` (query parameter). 404 `Chat not found`; another user\'s chat is 401 `User is not the owner of the chat`.',
      request: { query: chatQuery },
      responses: { 200: okJson(Chat), ...chatErrors },
    }),
    async (c) => c.json(chatJson(await ownedChat(c.get('db'), c.get('user').id, c.req.valid('query').chat_id)), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/chat/agent',
      tags: ['Chats'],
      summary: "Set or clear the chat's default agent",
      operationId: 'setChatAgent',
      description:
        "Sets the chat's default agent, the one that answers every message that names no agent, or clears it with `null`; answers 200 with the chat. The agent must be one of yours (404 `Agent not found` otherwise) and in the chat's workspace (409 `agent_not_in_workspace`). An unknown or another user's chat is 404 `Chat not found`. Deleting the agent or removing it from the workspace clears it from the chat.",
      request: { query: chatQuery, body: jsonRequest(chatAgentBody) },
      responses: {
        200: okJson(z.object({ chat: Chat })),
        400: errorResponse('Missing chat id', 'Missing JSON in request', 'Missing agent_id parameter', AGENT_ID_ERROR),
        404: errorResponse(CHAT_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(AGENT_NOT_IN_WORKSPACE),
        503: chatErrors[503],
      },
    }),
    async (c) => {
      const chat = await setDefaultAgent(depsOf(c), c.get('user').id, c.req.valid('query').chat_id, c.req.valid('json').agent_id);
      return c.json({ chat: chatJson(chat) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/chat',
      tags: ['Chats'],
      summary: 'Delete a chat, its messages and its open sockets',
      operationId: 'deleteChat',
      description:
        'Upstream contract: deletes the chat and its messages; its open sockets close with 4404 and it never comes back. 404 `Chat not found`, also for another user\'s chat.',
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
      operationId: 'listWorkspaceChats',
      description:
        'Upstream contract: the chats of one workspace, newest first; `limit` and `cursor` as every list. 404 `Workspace not found`; another user\'s workspace is 403.',
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
      operationId: 'listChats',
      description:
        'Every chat of the signed-in user across workspaces, newest first; `limit` and `cursor` as every list.',
      request: { query: pageQuery },
      responses: { 200: chatList, ...listErrors },
    }),
    async (c) => {
      const { items, nextCursor } = await listChatsOf(c.get('db'), c.get('user').id, c.req.valid('query'));
      return c.json({ chats: items.map(chatJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    authorizeRoute(
      'connection',
      '/chat/authorize',
      'A single-use connection string for GET /chat/ws (CONNECTION_STRING_TTL_SECONDS)',
      'getConnectionString',
      'Upstream contract: a one-use connection string for `GET /chat/ws` or a Socket.IO connection at `/socket.io/` (valid CONNECTION_STRING_TTL_SECONDS, 5 minutes by default), bound to this chat, user and session. The answer carries the contract\'s `connection_string`, `created_at` and `expires_at` (Unix epoch seconds) and `created_by`, plus `string` (the same value) and `chat_id`. 404 `Chat not found`; another user\'s chat is 401 `User is not the owner of the chat`.',
    ),
    (c) => issue(c, 'connection', c.req.valid('query').chat_id),
  )
  .openapi(
    authorizeRoute(
      'message',
      '/chat/authorize/message',
      'A message string: authorizes one message frame (MESSAGE_STRING_TTL_SECONDS)',
      'getMessageString',
      'Upstream contract: a message string: it authorizes exactly one message frame on a socket of this chat (valid MESSAGE_STRING_TTL_SECONDS, 60 seconds by default). Ask for the first one here; every ack then carries the next (`next_message_string`). Same fields and errors as `GET /chat/authorize`, with `message_string`.',
    ),
    (c) => issue(c, 'message', c.req.valid('query').chat_id),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/chat/messages',
      tags: ['Chats'],
      summary: 'Message history in seq order: the messages after `after_seq`, paginated',
      operationId: 'listChatMessages',
      description:
        'The stored messages with `seq` greater than `after_seq` (default 0: from the start), oldest first, at most `limit`. Pass `next_after_seq` back as `after_seq` for the next page (null: no more); `last_seq` is the chat\'s newest. 404 `Chat not found`; another user\'s chat is 401.',
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
      summary: 'Open the chat WebSocket (Upgrade: websocket) with a connection string',
      operationId: 'openChatSocket',
      description:
        'Not callable from this page: open it with a WebSocket client, `wss://<host>/chat/ws?chat_id=...&connection_string=...`, with a fresh string from `GET /chat/authorize` (browsers cannot send headers on a WebSocket, so the string replaces the token). Optional `after_seq=N` replays the stored messages after N first; `batch=1` groups messages into `messages` frames. Refusals come before the upgrade: 426 without `Upgrade: websocket`, 404 for an unknown or deleted chat, 401 for a missing, unknown, used, expired or other chat\'s string, 503 `config_invalid` (with `var`) while the deployment is misconfigured. Every frame is on the [WebSocket protocol page](/websocket). Socket.IO clients (python-socketio 5, socket.io-client 3 and 4) connect at `/socket.io/`, namespace `/chat`, with the same query: see that page.',
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

/**
 * Socket.IO (Engine.IO v4 polling and WebSocket) for clients written against the upstream
 * system (README "Socket.IO"). Not in the OpenAPI document: it is a wire protocol, not an HTTP
 * API (its answers are Engine.IO payloads; a refused connection string is a Socket.IO CONNECT_ERROR).
 */
chatRoutes.on(['GET', 'POST'], '/socket.io/', (c) =>
  openSocketIo(depsOf(c), c.req.raw, () => {
    const query = chatQuery.safeParse({ chat_id: c.req.query('chat_id') });
    if (!query.success) throw new ApiError(400, 'validation_error', query.error.issues[0].message);
    return query.data.chat_id;
  }),
);
