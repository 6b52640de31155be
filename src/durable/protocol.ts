import { z } from 'zod';
import { epochSeconds } from '../lib/time';

/**
 * The chat protocol, defined once: the frames a client sends (untrusted, parsed here), the frames
 * the ChatRoom object sends, the one result of its RPC methods, and the refusals of its connect
 * path. Imported by src/durable/, src/chats/, the tests and, through JSDoc types, public/js/ (the chat page),
 * which tsconfig.page.json type-checks: so this file imports nothing that needs Workers types
 * (not even src/lib/errors.ts; src/durable/chat-frames.ts checks that every code here is one of
 * its ERROR_CODES).
 */

// ---- what a message looks like in frames and in GET /chat/messages ---------------------------

export const chatMessageSchema = z.object({
  message_id: z.string(),
  chat_id: z.string(),
  seq: z.number().int(),
  sender_id: z.string(),
  role: z.enum(['user', 'system', 'agent']),
  content: z.string(),
  created_at: z.string(),
  client_id: z.string().nullable(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type Role = ChatMessage['role'];

// ---- authorization strings ---------------------------------------------------------------------

export type StringKind = 'connection' | 'message';

/** A string as the object issues it (the RPC `issue` answers this). */
export interface Issued {
  string: string;
  createdAt: number;
  expiresAt: number;
}

/** The body of GET /chat/authorize[/message], and an ack's `next_message_string`. */
export type IssuedJson<K extends StringKind> = { [F in `${K}_string`]: string } & {
  string: string;
  chat_id: string;
  created_at: number;
  expires_at: number;
  created_by: string;
};

export function issuedJson<K extends StringKind>(kind: K, chatId: string, userId: string, issued: Issued): IssuedJson<K> {
  return {
    [`${kind}_string`]: issued.string,
    string: issued.string,
    chat_id: chatId,
    created_at: epochSeconds(issued.createdAt),
    expires_at: epochSeconds(issued.expiresAt),
    created_by: userId,
  } as IssuedJson<K>;
}

// ---- client frames ------------------------------------------------------------------------------

/** The exact ping text, answered by the runtime without waking the object (setWebSocketAutoResponse). */
export const PING_TEXT = '{"type":"ping"}';
export const PONG_TEXT = '{"type":"pong"}';

/** What a well-behaved client sends. */
export type ClientFrame =
  | { type: 'ping' }
  | { type: 'message'; message_string: string; content: string; client_id?: string | null };

const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const CLIENT_ID = 'client_id must be a string of 1 to 128 characters';

/**
 * The shape check of an untrusted frame. `message_string` and `content` stay unknown here: the
 * string is checked first (src/durable/chat-frames.ts), and a resent client_id is answered
 * whatever its content, so content is judged only after both.
 */
export const clientFrameSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('ping') }),
    z.object({
      type: z.literal('message'),
      message_string: z.unknown().optional(),
      content: z.unknown().optional(),
      client_id: z.string({ error: CLIENT_ID }).min(1, { error: CLIENT_ID }).max(128, { error: CLIENT_ID }).nullish(),
    }),
  ],
  { error: (issue) => (isObject(issue.input) ? 'Unknown frame type' : 'Frames must be JSON objects') },
);
export type ParsedClientFrame = z.output<typeof clientFrameSchema>;

/** Parses one WebSocket message; a refusal is the `msg` of an `invalid_frame` error. */
export function parseClientFrame(data: string | ArrayBuffer): { ok: true; frame: ParsedClientFrame } | { ok: false; msg: string } {
  if (typeof data !== 'string') return { ok: false, msg: 'Frames must be JSON text' };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, msg: 'Frames must be JSON text' };
  }
  const parsed = clientFrameSchema.safeParse(json);
  return parsed.success ? { ok: true, frame: parsed.data } : { ok: false, msg: parsed.error.issues[0].message };
}

// ---- server frames ------------------------------------------------------------------------------

export const FRAME_ERROR_CODES = [
  'invalid_frame', 'invalid_message_string', 'expired_message_string', 'content_too_large', 'rate_limited', 'config_invalid', 'internal_error',
] as const;
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

export type ReadyFrame = { type: 'ready'; chat_id: string; user_id: string; last_seq: number };
export type MessageFrame = { type: 'message'; message: ChatMessage };
/** Sockets that connected with batch=1 get messages coalesced (src/durable/chat-fanout.ts). */
export type MessagesFrame = { type: 'messages'; messages: ChatMessage[] };
export type AckFrame = {
  type: 'ack';
  client_id: string | null;
  message_id: string;
  seq: number;
  next_message_string: IssuedJson<'message'>;
  /** A resent client_id: this is the first ack again and nothing new was stored. */
  duplicate?: true;
};
export type ErrorFrame = {
  type: 'error';
  code: FrameErrorCode;
  msg: string;
  client_id: string | null;
  /** rate_limited: seconds until the user may send again. */
  retry_after?: number;
  /** config_invalid: the var that does not parse. */
  var?: string;
};
export type PongFrame = { type: 'pong' };
export type ServerFrame = ReadyFrame | MessageFrame | MessagesFrame | AckFrame | ErrorFrame | PongFrame;

export const errorFrame = (code: FrameErrorCode, msg: string, clientId: string | null, extra: Pick<ErrorFrame, 'retry_after' | 'var'> = {}): ErrorFrame =>
  ({ type: 'error', code, msg, client_id: clientId, ...extra });

/**
 * The two broadcast frames, built from messages already serialized once: the same text as
 * JSON.stringify of a MessageFrame or MessagesFrame, without serializing each message per frame.
 */
export const encodeMessageFrame = (messageJsonText: string) => `{"type":"message","message":${messageJsonText}}`;
export const encodeMessagesFrame = (messageJsonTexts: string[]) => `{"type":"messages","messages":[${messageJsonTexts.join(',')}]}`;

/** Close codes: the session was revoked; the chat was deleted. */
export const CLOSE_SESSION_REVOKED = { code: 4401, reason: 'Session revoked' } as const;
export const CLOSE_CHAT_DELETED = { code: 4404, reason: 'Chat deleted' } as const;

// ---- RPC results and connect refusals -----------------------------------------------------------

/** Every way the object says no, with its HTTP status and default `msg`. */
const FAILURES = {
  chat_not_found: [404, 'Chat not found'],
  invalid_content: [400, 'Content must be non-empty and at most MESSAGE_MAX_BYTES bytes'],
  invalid_connection_string: [401, 'Invalid connection string'],
  expired_connection_string: [401, 'Connection string has expired'],
  session_revoked: [401, 'Session has been revoked'],
  config_invalid: [503, 'Invalid configuration'],
} as const satisfies Record<string, readonly [number, string]>;
export type FailureCode = keyof typeof FAILURES;
export type FailureStatus = (typeof FAILURES)[FailureCode][0];

export interface Failure {
  ok: false;
  code: FailureCode;
  msg: string;
  /** config_invalid: the var that does not parse. */
  var?: string;
}

/** What every RPC method of the ChatRoom object answers. */
export type Result<T extends object = object> = ({ ok: true } & T) | Failure;

export const fail = (code: FailureCode, msg: string = FAILURES[code][1]): Failure => ({ ok: false, code, msg });
/** A var that does not parse (src/lib/config.ts's ConfigError: `detail` is its message, naming the var). */
export const configInvalid = (varName: string, detail: string): Failure => ({
  ...fail('config_invalid', `Invalid configuration: ${detail}`),
  var: varName,
});
export const failureStatus = (f: Failure): FailureStatus => FAILURES[f.code][0];

/** The connect path's refusal: a JSON Response (it cannot be an RPC result: success is a 101). */
export const refusalResponse = (f: Failure) => Response.json(f, { status: failureStatus(f) });
/** Reads back a refusalResponse (the route turns it into its own error body). */
export const readRefusal = async (res: Response): Promise<Failure> => (await res.json()) as Failure;

/** The connect request's query, as the object reads it (the route validated it first). */
export function connectParams(url: URL) {
  const afterSeq = Number(url.searchParams.get('after_seq'));
  return {
    connectionString: url.searchParams.get('connection_string'),
    afterSeq: url.searchParams.has('after_seq') && Number.isSafeInteger(afterSeq) && afterSeq >= 0 ? afterSeq : null,
    batch: url.searchParams.get('batch') === '1',
  };
}
