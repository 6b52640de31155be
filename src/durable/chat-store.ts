import { createHash } from 'node:crypto';
import { randomToken } from '../lib/ids';
import type { Issued, StringKind } from './protocol';

/**
 * The chat object's SQLite storage: the schema, and the authorization strings (the messages
 * table's functions are in chat-messages.ts, re-exported here). Every function is synchronous,
 * so a message frame is checked, stored and acknowledged without another event of the object
 * running in between (no await, no interleaving).
 */
export * from './chat-messages';

interface StoredString {
  kind: StringKind;
  user_id: string;
  session_id: string;
  expires_at: number;
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

/**
 * Checks a message string and, in the same UPDATE, consumes it and issues the sender's next one
 * (the row takes the new hash and lifetime; kind, user and session stay). The caller runs this
 * in a transaction and rolls it back (by throwing) if the frame is then refused, so the string
 * stays usable. Failing, a second query tells an expired string from an invalid one.
 */
export function useMessageString(
  sql: SqlStorage,
  value: unknown,
  s: { userId: string; sessionId: string; ttlSeconds: number; now: number },
): { ok: true; next: Issued } | { ok: false; reason: 'invalid' | 'expired' } {
  if (typeof value !== 'string' || value.length === 0 || value.length > 256) return { ok: false, reason: 'invalid' };
  const hash = hashOf(value);
  const next = randomToken(32);
  const expiresAt = s.now + s.ttlSeconds * 1000;
  const used = sql
    .exec(
      `UPDATE strings SET hash = ?, created_at = ?, expires_at = ?
       WHERE hash = ? AND kind = 'message' AND user_id = ? AND session_id = ? AND expires_at > ? RETURNING 1`,
      hashOf(next), s.now, expiresAt, hash, s.userId, s.sessionId, s.now,
    )
    .toArray().length;
  if (used) return { ok: true, next: { string: next, createdAt: s.now, expiresAt } };
  const row = sql
    .exec("SELECT 1 FROM strings WHERE hash = ? AND kind = 'message' AND user_id = ? AND session_id = ?", hash, s.userId, s.sessionId)
    .toArray()[0];
  return { ok: false, reason: row ? 'expired' : 'invalid' };
}

/** Deletes strings that expired by `before`; returns the next expiry, if any string is left. */
export function purgeExpiredStrings(sql: SqlStorage, before: number): number | null {
  sql.exec('DELETE FROM strings WHERE expires_at <= ?', before);
  const next = sql.exec<{ t: number | null }>('SELECT MIN(expires_at) AS t FROM strings').one().t;
  return next ?? null;
}

export const deleteSessionStrings = (sql: SqlStorage, sessionIds: string[]) => {
  for (const id of sessionIds) sql.exec('DELETE FROM strings WHERE session_id = ?', id);
};
