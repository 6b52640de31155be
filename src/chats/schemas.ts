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
    created_at: z.string(),
  })
  .openapi('Chat');

export const chatJson = (c: ChatRow) => ({
  chat_id: c.id,
  workspace_id: c.workspaceId,
  owner: c.ownerId,
  created_by: c.ownerId,
  title: c.title,
  created_at: iso(c.createdAt),
});

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
