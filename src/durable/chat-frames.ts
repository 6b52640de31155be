import type { Config } from '../lib/config';
import type { ErrorCode } from '../lib/errors';
import { newId } from '../lib/ids';
import * as store from './chat-store';
import {
  type ChatMessage,
  type FailureCode,
  type FrameErrorCode,
  errorFrame,
  issuedJson,
  parseClientFrame,
  type ServerFrame,
} from './protocol';

/** protocol.ts cannot import src/lib/errors.ts (see there): its codes are checked against ERROR_CODES here. */
type Listed<T extends ErrorCode> = T;
export type ProtocolErrorCode = Listed<FrameErrorCode | FailureCode>;

/** What a socket carries across hibernation (serializeAttachment). */
export interface Attachment {
  userId: string;
  sessionId: string;
  batch: boolean;
}

/** Frames for the sender (`reply`) and, for a newly stored message, the one frame every socket gets. */
export interface Outcome {
  reply: ServerFrame[];
  broadcast?: ChatMessage;
  /** A newly stored user message: the object admits a run for it (of `agentId`, else the chat's default agent). */
  stored?: { seq: number; agentId: string | null };
  /** A cancel frame: the object cancels this run. */
  cancelRunId?: string;
  /** A tool_outputs frame: the object hands them to the waiting run. */
  toolOutputs?: { runId: string; outputs: { call_id: string; output: string }[] };
  /** A string issued in an ack: the object makes sure its alarm will purge it. */
  expiresAt?: number;
}

const refuse = (...args: Parameters<typeof errorFrame>): Outcome => ({ reply: [errorFrame(...args)] });

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
  const parsed = parseClientFrame(data);
  if (!parsed.ok) return refuse('invalid_frame', parsed.msg, null);
  const frame = parsed.frame;
  if (frame.type === 'ping') return { reply: [{ type: 'pong' }] };
  if (frame.type === 'cancel') return { reply: [], cancelRunId: frame.run_id };
  if (frame.type === 'tool_outputs') return { reply: [], toolOutputs: { runId: frame.run_id, outputs: frame.tool_outputs } };
  const clientId = frame.client_id ?? null;

  const used = store.useMessageString(sql, frame.message_string, {
    userId: who.userId,
    sessionId: who.sessionId,
    ttlSeconds: cfg.messageStringTtl,
    now,
  });
  if (!used.ok) {
    return used.reason === 'expired'
      ? refuse('expired_message_string', 'Message string has expired', clientId)
      : refuse('invalid_message_string', 'Invalid message string', clientId);
  }
  const ack = (message: store.StoredMessage, duplicate: boolean): Outcome => ({
    reply: [
      {
        type: 'ack',
        client_id: clientId,
        message_id: message.message_id,
        seq: message.seq,
        next_message_string: issuedJson('message', chatId, who.userId, used.next),
        ...(duplicate ? { duplicate: true as const } : {}),
      },
    ],
    broadcast: duplicate ? undefined : store.messageJson(chatId, message),
    stored: duplicate ? undefined : { seq: message.seq, agentId: frame.agent_id ?? null },
    expiresAt: used.next.expiresAt,
  });
  const duplicateOf = () => (clientId ? store.findByClientId(sql, who.userId, clientId) : null);

  const content = frame.content;
  let refusal: Outcome | null = null;
  if (typeof content !== 'string' || content.trim() === '') refusal = refuse('invalid_frame', 'Missing content', clientId);
  else if (tooLarge(content, cfg.messageMaxBytes)) {
    refusal = refuse('content_too_large', `Content exceeds ${cfg.messageMaxBytes} bytes`, clientId);
  } else {
    const wait = messages.retryAfter(who.userId, cfg.messageRateLimit, cfg.messageRateWindow, now);
    if (wait > 0) refusal = refuse('rate_limited', 'Too many messages', clientId, { retry_after: wait });
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
    content: content as string, // refusal is null only for a non-empty string
    created_at: now,
    client_id: clientId,
  });
  if (stored) return ack(stored, false);
  const first = duplicateOf();
  if (!first) throw new Error('client_id conflict without a stored message');
  return ack(first, true);
}
