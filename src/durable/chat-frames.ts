import type { Config } from '../lib/config';
import { newId } from '../lib/ids';
import { epochSeconds } from '../lib/time';
import * as store from './chat-store';

/** What a socket carries across hibernation (serializeAttachment). */
export interface Attachment {
  userId: string;
  sessionId: string;
  batch: boolean;
}

type Frame = Record<string, unknown>;

/** The body of GET /chat/authorize[/message], and of an ack's `next_message_string`. */
export function issuedJson(kind: store.StringKind, chatId: string, userId: string, issued: store.Issued) {
  const field = kind === 'connection' ? 'connection_string' : 'message_string';
  return {
    [field]: issued.string,
    string: issued.string,
    chat_id: chatId,
    created_at: epochSeconds(issued.createdAt),
    expires_at: epochSeconds(issued.expiresAt),
    created_by: userId,
  };
}

export const errorFrame = (code: string, msg: string, clientId: string | null, extra: Frame = {}) => ({
  type: 'error',
  code,
  msg,
  client_id: clientId,
  ...extra,
});

/** Frames for the sender (`reply`) and, for a newly stored message, the one frame every socket gets. */
export interface Outcome {
  reply: Frame[];
  broadcast?: store.MessageJson;
  /** A string issued in an ack: the object makes sure its alarm will purge it. */
  expiresAt?: number;
}

const invalid = (msg: string, clientId: string | null = null): Outcome => ({
  reply: [errorFrame('invalid_frame', msg, clientId)],
});

const isObject = (v: unknown): v is Frame => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Thrown inside the frame's transaction to roll back the string's use: the refusal is the answer. */
export class Refused extends Error {
  constructor(readonly outcome: Outcome) {
    super('frame refused');
  }
}

const encoder = new TextEncoder();
/** UTF-8 bytes; a string of n UTF-16 units has at most 3n, so short content skips the encoding. */
const tooLarge = (content: string, max: number) => content.length * 3 > max && encoder.encode(content).byteLength > max;

/**
 * One client frame, checked in this order: shape, message string (kind, user, session, expiry),
 * client_id replay, content, rate. A refused frame consumes nothing and stores nothing, so its
 * string stays usable. Synchronous: the caller runs it inside one storage transaction, and a
 * refusal after the string was used throws Refused to roll that back.
 *
 * The usual frame costs two statements: one UPDATE checks, consumes and replaces the string, one
 * INSERT stores the message (or finds its client_id taken). The first message with a client_id
 * is looked up only when that insert conflicts, or when the frame would otherwise be refused.
 */
export function handleFrame(
  sql: SqlStorage,
  messages: store.Messages,
  cfg: Config,
  chatId: string,
  who: Attachment,
  data: string | ArrayBuffer,
  now: number,
): Outcome {
  if (typeof data !== 'string') return invalid('Frames must be JSON text');
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch {
    return invalid('Frames must be JSON text');
  }
  if (!isObject(frame)) return invalid('Frames must be JSON objects');
  if (frame.type === 'ping') return { reply: [{ type: 'pong' }] };
  if (frame.type !== 'message') return invalid('Unknown frame type');
  const rawClientId = frame.client_id;
  if (rawClientId != null && (typeof rawClientId !== 'string' || rawClientId.length === 0 || rawClientId.length > 128)) {
    return invalid('client_id must be a string of 1 to 128 characters');
  }
  const clientId = typeof rawClientId === 'string' ? rawClientId : null;

  const used = store.useMessageString(sql, frame.message_string, {
    userId: who.userId,
    sessionId: who.sessionId,
    ttlSeconds: cfg.messageStringTtl,
    now,
  });
  if (!used.ok) {
    return {
      reply: [
        used.reason === 'expired'
          ? errorFrame('expired_message_string', 'Message string has expired', clientId)
          : errorFrame('invalid_message_string', 'Invalid message string', clientId),
      ],
    };
  }
  const ack = (message: store.StoredMessage, duplicate: boolean): Outcome => ({
    reply: [
      {
        type: 'ack',
        client_id: clientId,
        message_id: message.message_id,
        seq: message.seq,
        next_message_string: issuedJson('message', chatId, who.userId, used.next),
        // A resent client_id: this is the first ack again and nothing new was stored.
        ...(duplicate ? { duplicate: true } : {}),
      },
    ],
    broadcast: duplicate ? undefined : store.messageJson(chatId, message),
    expiresAt: used.next.expiresAt,
  });
  const duplicateOf = () => (clientId ? store.findByClientId(sql, who.userId, clientId) : null);

  const content = frame.content;
  let refusal: Outcome | null = null;
  if (typeof content !== 'string' || content.trim() === '') refusal = invalid('Missing content', clientId);
  else if (tooLarge(content, cfg.messageMaxBytes)) {
    refusal = { reply: [errorFrame('content_too_large', `Content exceeds ${cfg.messageMaxBytes} bytes`, clientId)] };
  } else {
    const wait = messages.retryAfter(who.userId, cfg.messageRateLimit, cfg.messageRateWindow, now);
    if (wait > 0) refusal = { reply: [errorFrame('rate_limited', 'Too many messages', clientId, { retry_after: wait })] };
  }
  if (refusal) {
    // A resent client_id is answered whatever its content or rate; anything else is refused.
    const first = duplicateOf();
    if (first) return ack(first, true);
    throw new Refused(refusal);
  }
  const stored = messages.insert({
    message_id: newId(),
    sender_id: who.userId,
    role: 'user',
    content: content as string,
    created_at: now,
    client_id: clientId,
  });
  if (stored) return ack(stored, false);
  const first = duplicateOf();
  if (!first) throw new Error('client_id conflict without a stored message');
  return ack(first, true);
}
