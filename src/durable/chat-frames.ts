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

/**
 * One client frame, checked in this order: shape, message string (kind, user, session, expiry),
 * client_id replay, content, rate. A refused frame consumes nothing and stores nothing, so its
 * string stays usable. Synchronous: the caller runs it inside one storage transaction.
 */
export function handleFrame(
  sql: SqlStorage,
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

  const check = store.checkString(sql, frame.message_string, {
    kind: 'message',
    userId: who.userId,
    sessionId: who.sessionId,
    now,
  });
  if (!check.ok) {
    return {
      reply: [
        check.reason === 'expired'
          ? errorFrame('expired_message_string', 'Message string has expired', clientId)
          : errorFrame('invalid_message_string', 'Invalid message string', clientId),
      ],
    };
  }

  const first = clientId ? store.findByClientId(sql, who.userId, clientId) : null;
  if (!first) {
    const content = frame.content;
    if (typeof content !== 'string' || content.trim() === '') return invalid('Missing content', clientId);
    if (new TextEncoder().encode(content).byteLength > cfg.messageMaxBytes) {
      return { reply: [errorFrame('content_too_large', `Content exceeds ${cfg.messageMaxBytes} bytes`, clientId)] };
    }
    const wait = store.retryAfter(sql, who.userId, cfg.messageRateLimit, cfg.messageRateWindow, now);
    if (wait > 0) return { reply: [errorFrame('rate_limited', 'Too many messages', clientId, { retry_after: wait })] };
  }

  store.consumeString(sql, check.hash);
  const message =
    first ??
    store.insertMessage(sql, {
      message_id: newId(),
      sender_id: who.userId,
      role: 'user',
      content: frame.content as string,
      created_at: now,
      client_id: clientId,
    });
  const next = store.issueString(sql, {
    kind: 'message',
    userId: who.userId,
    sessionId: who.sessionId,
    ttlSeconds: cfg.messageStringTtl,
    now,
  });
  const ack = {
    type: 'ack',
    client_id: clientId,
    message_id: message.message_id,
    seq: message.seq,
    next_message_string: issuedJson('message', chatId, who.userId, next),
    // A resent client_id: this is the first ack again and nothing new was stored.
    ...(first ? { duplicate: true } : {}),
  };
  return {
    reply: [ack],
    broadcast: first ? undefined : store.messageJson(chatId, message),
    expiresAt: next.expiresAt,
  };
}
