import { eq, lte, sql } from 'drizzle-orm';
import { loginAttempts, users } from '../db/schema';
import type { Db } from '../db/client';

export type UserRow = typeof users.$inferSelect;

export async function findUserByEmail(db: Db, email: string): Promise<UserRow | null> {
  return (await db.select().from(users).where(eq(users.email, email)).limit(1))[0] ?? null;
}

export async function findUserById(db: Db, id: string): Promise<UserRow | null> {
  return (await db.select().from(users).where(eq(users.id, id)).limit(1))[0] ?? null;
}

/** Inserts unless the email is taken; returns false on a duplicate (the unique index decides). */
export async function insertUser(db: Db, user: { id: string; email: string; passwordHash: string; now: number }) {
  const rows = await db
    .insert(users)
    .values({ id: user.id, email: user.email, passwordHash: user.passwordHash, createdAt: user.now, updatedAt: user.now })
    .onConflictDoNothing({ target: users.email })
    .returning({ id: users.id });
  return rows.length === 1;
}

/** Changes the email unless another account has it; false when taken. */
export async function updateUserEmail(db: Db, id: string, email: string, now: number): Promise<boolean> {
  try {
    await db.update(users).set({ email, updatedAt: now }).where(eq(users.id, id));
    return true;
  } catch (err) {
    if (isUniqueViolation(err)) return false;
    throw err;
  }
}

/** D1 reports constraint failures as text; drizzle wraps the driver's error in `cause`. */
export function isUniqueViolation(err: unknown): boolean {
  for (let e = err as { message?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (String(e.message).includes('UNIQUE constraint failed')) return true;
  }
  return false;
}

export async function updatePasswordHash(db: Db, id: string, passwordHash: string, now: number) {
  await db.update(users).set({ passwordHash, updatedAt: now }).where(eq(users.id, id));
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
