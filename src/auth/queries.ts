import { and, eq, gt, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import { loginAttempts, refreshTokens, sessions } from '../db/schema';
import { chunk } from '../lib/chunk';
import type { Db } from '../db/client';

export type RefreshTokenRow = typeof refreshTokens.$inferSelect;

/** A session and its first refresh token, in one atomic batch. */
export async function insertSession(
  db: Db,
  s: { id: string; userId: string; now: number; expiresAt: number },
  token: { id: string; hash: string },
) {
  await db.batch([
    db.insert(sessions).values({ id: s.id, userId: s.userId, createdAt: s.now, expiresAt: s.expiresAt }),
    db.insert(refreshTokens).values({
      id: token.id,
      tokenHash: token.hash,
      familyId: s.id,
      userId: s.userId,
      createdAt: s.now,
      expiresAt: s.expiresAt,
    }),
  ]);
}

/**
 * Rotation as one compare-and-set: the UPDATE only matches a live, never-rotated token, and the
 * child is inserted only for a rotated parent that has no child yet (raw SQL: drizzle cannot
 * batch an INSERT ... SELECT). D1 runs a batch as one
 * transaction and batches one after another, so of two concurrent refreshes exactly one sees
 * its UPDATE return the row. Returns the rotated parent, or null for the loser.
 */
export async function rotateRefreshToken(
  db: Db,
  oldHash: string,
  child: { id: string; hash: string },
  now: number,
): Promise<{ familyId: string; userId: string } | null> {
  const d1 = db.$client;
  const [updated] = await d1.batch<{ family_id: string; user_id: string }>([
    d1
      .prepare(
        `UPDATE refresh_tokens SET rotated_at = ?1
         WHERE token_hash = ?2 AND rotated_at IS NULL AND revoked_at IS NULL AND expires_at > ?1
         RETURNING family_id, user_id`,
      )
      .bind(now, oldHash),
    d1
      .prepare(
        `INSERT INTO refresh_tokens (id, token_hash, family_id, parent_id, user_id, created_at, expires_at)
         SELECT ?1, ?2, p.family_id, p.id, p.user_id, ?3, p.expires_at
         FROM refresh_tokens p
         WHERE p.token_hash = ?4 AND p.rotated_at = ?3 AND p.revoked_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM refresh_tokens c WHERE c.parent_id = p.id)`,
      )
      .bind(child.id, child.hash, now, oldHash),
  ]);
  const row = updated.results[0];
  return row ? { familyId: row.family_id, userId: row.user_id } : null;
}

export async function findRefreshToken(db: Db, hash: string) {
  return (await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash)).limit(1))[0] ?? null;
}

/** When the session signed in (refreshes keep the session, so this is the login's time). */
export async function sessionCreatedAt(db: Db, id: string): Promise<number | null> {
  const [row] = await db.select({ createdAt: sessions.createdAt }).from(sessions).where(eq(sessions.id, id)).limit(1);
  return row?.createdAt ?? null;
}

export async function liveSessionIds(db: Db, userId: string, now: number): Promise<string[]> {
  const rows = await db
    .select({ id: sessions.id })
    .from(sessions)
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, now)));
  return rows.map((r) => r.id);
}

/** Marks sessions and their refresh families revoked; one batch, ids chunked for D1's limit. */
export async function markSessionsRevoked(db: Db, ids: string[], now: number) {
  if (ids.length === 0) return;
  const statements = chunk(ids).flatMap((part) => [
    db.update(sessions).set({ revokedAt: now }).where(and(inArray(sessions.id, part), isNull(sessions.revokedAt))),
    db
      .update(refreshTokens)
      .set({ revokedAt: now })
      .where(and(inArray(refreshTokens.familyId, part), isNull(refreshTokens.revokedAt))),
  ]);
  await db.batch(statements as [(typeof statements)[number], ...typeof statements]);
}

/** Cron: drop expired refresh tokens and sessions that are expired or long revoked. */
export async function purgeExpiredSessions(db: Db, now: number, revokedGraceMs: number) {
  await db.batch([
    db.delete(refreshTokens).where(lt(refreshTokens.expiresAt, now)),
    db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, now), lt(sessions.revokedAt, now - revokedGraceMs))),
  ]);
}

/**
 * Counts one login attempt against the email before the password is checked, in one atomic
 * upsert, and returns the count in the current window with the window's start. Counting first
 * makes the limit exact under concurrent attempts; a successful login clears it.
 */
export async function countLoginAttempt(db: Db, email: string, now: number, windowMs: number) {
  const expired = now - windowMs;
  const [row] = await db
    .insert(loginAttempts)
    .values({ email, failures: 1, windowStartedAt: now })
    .onConflictDoUpdate({
      target: loginAttempts.email,
      set: {
        failures: sql`CASE WHEN ${loginAttempts.windowStartedAt} <= ${expired} THEN 1 ELSE ${loginAttempts.failures} + 1 END`,
        windowStartedAt: sql`CASE WHEN ${loginAttempts.windowStartedAt} <= ${expired} THEN ${now} ELSE ${loginAttempts.windowStartedAt} END`,
      },
    })
    .returning();
  return row;
}

export async function clearLoginAttempts(db: Db, email: string) {
  await db.delete(loginAttempts).where(eq(loginAttempts.email, email));
}

/** Cron: windows that ended no longer limit anything. */
export async function purgeLoginAttempts(db: Db, now: number, windowMs: number) {
  await db.delete(loginAttempts).where(lte(loginAttempts.windowStartedAt, now - windowMs));
}
