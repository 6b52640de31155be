import { eq } from 'drizzle-orm';
import { users } from '../db/schema';
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
