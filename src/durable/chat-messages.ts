import { iso } from '../lib/time';
import type { ChatMessage, Role } from './protocol';

/** The messages table (created by chat-store's migrate), and its rows as protocol.ts's ChatMessage. */

/** A message as stored by the object (times in epoch milliseconds). */
export interface StoredMessage {
  seq: number;
  message_id: string;
  sender_id: string;
  role: Role;
  content: string;
  created_at: number;
  client_id: string | null;
}

export const messageJson = (chatId: string, m: StoredMessage): ChatMessage => ({
  message_id: m.message_id,
  chat_id: chatId,
  seq: m.seq,
  sender_id: m.sender_id,
  role: m.role,
  content: m.content,
  created_at: iso(m.created_at),
  client_id: m.client_id,
});

export function findByClientId(sql: SqlStorage, senderId: string, clientId: string): StoredMessage | null {
  return (
    sql.exec<StoredMessage & Record<string, SqlStorageValue>>(
      'SELECT * FROM messages WHERE sender_id = ? AND client_id = ?', senderId, clientId,
    ).toArray()[0] ?? null
  );
}

export function messagesAfter(sql: SqlStorage, afterSeq: number, limit: number): StoredMessage[] {
  return sql
    .exec<StoredMessage & Record<string, SqlStorageValue>>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)
    .toArray();
}

/** Messages before `before` (exclusive; null: all), newest first. */
export function messagesBefore(sql: SqlStorage, before: number | null, limit: number): StoredMessage[] {
  return sql
    .exec<StoredMessage & Record<string, SqlStorageValue>>('SELECT * FROM messages WHERE seq < ? ORDER BY seq DESC LIMIT ?', before ?? Number.MAX_SAFE_INTEGER, limit)
    .toArray();
}

/** A user's latest 'user' messages (created_at, oldest first, at most `limit`) for one limit and window. */
interface RateWindow {
  limit: number;
  windowMs: number;
  times: number[];
}

/**
 * The messages table, with what a message frame needs from it kept in memory: the last `seq`
 * and each sender's recent message times. Both are read from SQLite on first use after the
 * object wakes (the constructor runs again after hibernation or eviction) and then follow the
 * inserts, which all go through this object; `forget()` drops them after a failed transaction.
 */
export class Messages {
  private seq: number | undefined;
  private rates = new Map<string, RateWindow>();

  constructor(private readonly sql: SqlStorage) {}

  forget() {
    this.seq = undefined;
    this.rates.clear();
  }

  lastSeq(): number {
    return (this.seq ??= this.sql.exec<{ s: number | null }>('SELECT MAX(seq) AS s FROM messages').one().s ?? 0);
  }

  /**
   * Stores a message with the next seq (strictly increasing, without gaps: one synchronous call),
   * or returns null when the sender already stored this client_id (nothing is written).
   */
  insert(m: Omit<StoredMessage, 'seq'>): StoredMessage | null {
    const seq = this.lastSeq() + 1;
    const inserted = this.sql
      .exec(
        `INSERT INTO messages (seq, message_id, sender_id, role, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (sender_id, client_id) WHERE client_id IS NOT NULL DO NOTHING RETURNING 1`,
        seq, m.message_id, m.sender_id, m.role, m.content, m.created_at, m.client_id,
      )
      .toArray().length;
    if (!inserted) return null;
    this.seq = seq;
    if (m.role === 'user') this.recordRate(m.sender_id, m.created_at);
    return { seq, ...m };
  }

  /**
   * Seconds until the user may send again, or 0: the same answer as counting the user's stored
   * messages in the window (the limit-th most recent decides), so the limit survives eviction.
   */
  retryAfter(userId: string, limit: number, windowSeconds: number, now: number): number {
    const windowMs = windowSeconds * 1000;
    let w = this.rates.get(userId);
    if (!w || w.limit !== limit || w.windowMs !== windowMs) {
      const times = this.sql
        .exec<{ created_at: number }>(
          `SELECT created_at FROM messages WHERE sender_id = ? AND role = 'user' AND created_at > ?
           ORDER BY created_at DESC LIMIT ?`,
          userId, now - windowMs, Math.max(1, limit),
        )
        .toArray()
        .map((r) => r.created_at)
        .reverse();
      w = { limit, windowMs, times };
      this.rates.set(userId, w);
    }
    let old = 0;
    while (old < w.times.length && w.times[old] <= now - windowMs) old++;
    if (old > 0) w.times.splice(0, old);
    if (w.times.length < Math.max(1, limit)) return 0;
    const decisive = w.times[w.times.length - Math.max(1, limit)];
    return Math.max(1, Math.ceil((decisive + windowMs - now) / 1000));
  }

  private recordRate(userId: string, createdAt: number) {
    const w = this.rates.get(userId);
    if (!w) return; // not read since the object woke: the next retryAfter reads it, this row included
    let at = w.times.length;
    while (at > 0 && w.times[at - 1] > createdAt) at--;
    w.times.splice(at, 0, createdAt);
    if (w.times.length > Math.max(1, w.limit)) w.times.shift();
  }
}
