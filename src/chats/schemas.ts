import { z } from '@hono/zod-openapi';
import { chatMessageSchema } from '../durable/protocol';
import { errorResponse, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { ChatRow } from './queries';
import { CHAT_NOT_FOUND, NOT_CHAT_OWNER } from './service';

/** The chats area's request and response schemas, and its one serializer. */

export const TITLE_MAX = 200;

/** The upstream contract's chat fields (POST answers `created_by`, GET answers `owner`: both carry the owner). */
export const Chat = z
  .object({
    chat_id: z.string(),
    workspace_id: z.string(),
    owner: z.string(),
    created_by: z.string(),
    title: z.string().nullable(),
    agent_id: z.string().nullable().openapi({ description: "The chat's default agent: it answers the messages that name no agent. Null: none" }),
    created_at: z.string(),
  })
  .openapi('Chat');

export const chatJson = (c: ChatRow) => ({
  chat_id: c.id,
  workspace_id: c.workspaceId,
  owner: c.ownerId,
  created_by: c.ownerId,
  title: c.title,
  agent_id: c.agentId,
  created_at: iso(c.createdAt),
});

export const AGENT_ID_ERROR = 'agent_id must be an agent id (a string) or null';
/** PUT /chat/agent: the chat's default agent, or null for none. */
export const chatAgentBody = z
  .object({
    agent_id: z
      .string({ error: (iss) => (iss.input === undefined ? 'Missing agent_id parameter' : AGENT_ID_ERROR) })
      .trim()
      .min(1, { error: AGENT_ID_ERROR })
      .nullable()
      .openapi({
        description: "An agent_id from GET /agents, of an agent in the chat's workspace, such as `0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e`; null clears it",
        type: ['string', 'null'],
      }),
  })
  // The example clears (always valid as sent); setting one takes an agent_id from GET /agents.
  .openapi('ChatAgent', { example: { agent_id: null } });

/** The message JSON of frames (src/durable/protocol.ts), documented once more for GET /chat/messages. */
export const ChatMessage = chatMessageSchema.openapi('ChatMessage');

export const queryParam = (name: string) => ({ param: { name, in: 'query' as const } });
export const chatQuery = z.object({ chat_id: requiredString('Missing chat id').openapi(queryParam('chat_id')) });

export const chatErrors = {
  400: errorResponse('Missing chat id'),
  401: errorResponse(NOT_CHAT_OWNER, 'Missing Authorization Header', 'Invalid token', 'Token has expired', 'Session has been revoked'),
  404: errorResponse(CHAT_NOT_FOUND),
  503: errorResponse('Invalid configuration: …'),
};

/** GET /chat/authorize[/message]: protocol.ts's IssuedJson. */
export const Issued = (field: 'connection_string' | 'message_string') =>
  z.object({
    [field]: z.string(),
    string: z.string(),
    chat_id: z.string(),
    created_at: z.number().int().openapi({ description: 'Unix epoch seconds' }),
    expires_at: z.number().int().openapi({ description: 'Unix epoch seconds' }),
    created_by: z.string(),
  });

export const afterSeqError = 'after_seq must be a non-negative integer';
