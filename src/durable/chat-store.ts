import { createHash } from 'node:crypto';
import { randomToken } from '../lib/ids';
import { iso } from '../lib/time';

/**
 * The chat object's SQLite storage: messages and authorization strings. Every function is
 * synchronous, so a message frame is checked, stored and acknowledged without another event of
 * the object running in between (no await, no interleaving).
 */

export type StringKind = 'connection' | 'message';
export type Role = 'user' | 'system' | 'agent';

export interface StoredMessage {
  seq: number;
  message_id: string;
  sender_id: string;
  role: Role;
  content: string;
  created_at: number;
  client_id: string | null;
}

interface StoredString {
  kind: StringKind;
  user_id: string;
  session_id: string;
  expires_at: number;
}

export interface Issued {
  string: string;
  createdAt: number;
  expiresAt: number;
}

export function migrate(sql: SqlStorage) {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS messages (
      seq INTEGER PRIMARY KEY,
      message_id TEXT NOT NULL UNIQUE,
      sender_id TEXT NOT NULL,
      role TEXT NOT NULL,
      content TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      client_id TEXT
    );
    CREATE UNIQUE INDEX IF NOT EXISTS messages_client_idx ON messages (sender_id, client_id) WHERE client_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS messages_sender_time_idx ON messages (sender_id, role, created_at);
    CREATE TABLE IF NOT EXISTS strings (
      hash TEXT PRIMARY KEY,
      kind TEXT NOT NULL,
      user_id TEXT NOT NULL,
      session_id TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS strings_expires_idx ON strings (expires_at);
    CREATE INDEX IF NOT EXISTS strings_session_idx ON strings (session_id);
  `);
}

/** Only a hash is stored: a leaked storage dump holds no usable string. */
const hashOf = (s: string) => createHash('sha256').update(s).digest('hex');

export function issueString(
  sql: SqlStorage,
  s: { kind: StringKind; userId: string; sessionId: string; ttlSeconds: number; now: number },
): Issued {
  const value = randomToken(32);
  const expiresAt = s.now + s.ttlSeconds * 1000;
  sql.exec(
    'INSERT INTO strings (hash, kind, user_id, session_id, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    hashOf(value), s.kind, s.userId, s.sessionId, s.now, expiresAt,
  );
  return { string: value, createdAt: s.now, expiresAt };
}

export type StringCheck =
  | { ok: true; hash: string; userId: string; sessionId: string }
  | { ok: false; reason: 'invalid' | 'expired' };

/**
 * A string is good only for its own kind, user and session; unknown, used (deleted on use) and
 * foreign strings all look the same to the caller. Does not consume it.
 */
export function checkString(
  sql: SqlStorage,
  value: unknown,
  want: { kind: StringKind; userId?: string; sessionId?: string; now: number },
): StringCheck {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) return { ok: false, reason: 'invalid' };
  const hash = hashOf(value);
  const row = sql.exec<StoredString & Record<string, SqlStorageValue>>(
    'SELECT kind, user_id, session_id, expires_at FROM strings WHERE hash = ?', hash,
  ).toArray()[0];
  if (!row || row.kind !== want.kind) return { ok: false, reason: 'invalid' };
  if ((want.userId && row.user_id !== want.userId) || (want.sessionId && row.session_id !== want.sessionId)) {
    return { ok: false, reason: 'invalid' };
  }
  if (row.expires_at <= want.now) return { ok: false, reason: 'expired' };
  return { ok: true, hash, userId: row.user_id, sessionId: row.session_id };
}

export const consumeString = (sql: SqlStorage, hash: string) => sql.exec('DELETE FROM strings WHERE hash = ?', hash);

/** Deletes strings that expired by `before`; returns the next expiry, if any string is left. */
export function purgeExpiredStrings(sql: SqlStorage, before: number): number | null {
  sql.exec('DELETE FROM strings WHERE expires_at <= ?', before);
  const next = sql.exec<{ t: number | null }>('SELECT MIN(expires_at) AS t FROM strings').one().t;
  return next ?? null;
}

export const deleteSessionStrings = (sql: SqlStorage, sessionIds: string[]) => {
  for (const id of sessionIds) sql.exec('DELETE FROM strings WHERE session_id = ?', id);
};

export const lastSeq = (sql: SqlStorage): number =>
  sql.exec<{ s: number | null }>('SELECT MAX(seq) AS s FROM messages').one().s ?? 0;

export function findByClientId(sql: SqlStorage, senderId: string, clientId: string): StoredMessage | null {
  return (
    sql.exec<StoredMessage & Record<string, SqlStorageValue>>(
      'SELECT * FROM messages WHERE sender_id = ? AND client_id = ?', senderId, clientId,
    ).toArray()[0] ?? null
  );
}

/** seq is MAX + 1 inside one synchronous call: strictly increasing, without gaps. */
export function insertMessage(sql: SqlStorage, m: Omit<StoredMessage, 'seq'>): StoredMessage {
  const seq = lastSeq(sql) + 1;
  sql.exec(
    'INSERT INTO messages (seq, message_id, sender_id, role, content, created_at, client_id) VALUES (?, ?, ?, ?, ?, ?, ?)',
    seq, m.message_id, m.sender_id, m.role, m.content, m.created_at, m.client_id,
  );
  return { seq, ...m };
}

export function messagesAfter(sql: SqlStorage, afterSeq: number, limit: number): StoredMessage[] {
  return sql
    .exec<StoredMessage & Record<string, SqlStorageValue>>('SELECT * FROM messages WHERE seq > ? ORDER BY seq LIMIT ?', afterSeq, limit)
    .toArray();
}

/**
 * Seconds until the user may send again, or 0. Counts the user's own stored messages in the
 * window, so the limit survives eviction without a table of its own.
 */
export function retryAfter(sql: SqlStorage, userId: string, limit: number, windowSeconds: number, now: number): number {
  const windowMs = windowSeconds * 1000;
  const row = sql
    .exec<{ created_at: number }>(
      `SELECT created_at FROM messages WHERE sender_id = ? AND role = 'user' AND created_at > ?
       ORDER BY created_at DESC LIMIT 1 OFFSET ?`,
      userId, now - windowMs, Math.max(0, limit - 1),
    )
    .toArray()[0];
  if (!row) return 0;
  return Math.max(1, Math.ceil((row.created_at + windowMs - now) / 1000));
}

export const messageJson = (chatId: string, m: StoredMessage) => ({
  message_id: m.message_id,
  chat_id: chatId,
  seq: m.seq,
  sender_id: m.sender_id,
  role: m.role,
  content: m.content,
  created_at: iso(m.created_at),
  client_id: m.client_id,
});

export type MessageJson = ReturnType<typeof messageJson>;
