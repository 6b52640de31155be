import { and, eq } from 'drizzle-orm';
import { cleanupJobs, files } from '../schema';
import { keyset } from '../../lib/pagination';
import type { Db } from '../../lib/types';

export type FileRow = typeof files.$inferSelect;
export type NewFile = typeof files.$inferInsert;

/** Cleanup jobs for R2 objects are keyed by the object, as workspace deletion keys them. */
export const r2JobId = (key: string) => `r2_object:${key}`;

/** The caller's file, or null when it is unknown or someone else's. */
export async function findOwnedFile(db: Db, userId: string, id: string): Promise<FileRow | null> {
  const rows = await db.select().from(files).where(and(eq(files.id, id), eq(files.userId, userId))).limit(1);
  return rows[0] ?? null;
}

/** Any user's file: signed links carry their own authorization. */
export async function findFile(db: Db, id: string): Promise<FileRow | null> {
  return (await db.select().from(files).where(eq(files.id, id)).limit(1))[0] ?? null;
}

export async function listFiles(
  db: Db,
  userId: string,
  filters: { taskId?: string; workspaceId?: string },
  limit: number,
  cursor?: string,
) {
  const k = keyset(files.createdAt, files.id, cursor);
  return db
    .select()
    .from(files)
    .where(
      and(
        eq(files.userId, userId),
        filters.taskId ? eq(files.taskId, filters.taskId) : undefined,
        filters.workspaceId ? eq(files.workspaceId, filters.workspaceId) : undefined,
        k.where,
      ),
    )
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

/**
 * Registers an upload's R2 key before any byte is written: if the request dies half way, the
 * cron sweep deletes whatever reached R2 once `runAfter` passes.
 */
export async function registerPendingObject(db: Db, key: string, now: number, runAfter: number) {
  await db
    .insert(cleanupJobs)
    .values({ id: r2JobId(key), kind: 'r2_object', target: key, createdAt: now, runAfter })
    .onConflictDoUpdate({ target: cleanupJobs.id, set: { runAfter } });
}

/** The upload made it: the row appears and the pending cleanup disappears, atomically. */
export async function commitFile(db: Db, row: NewFile): Promise<FileRow> {
  const [inserted] = await db.batch([
    db.insert(files).values(row).returning(),
    db.delete(cleanupJobs).where(eq(cleanupJobs.id, r2JobId(row.r2Key))),
  ]);
  return inserted[0];
}

/** Deletes the row and queues its R2 object for deletion in one batch; returns the job id. */
export async function deleteFile(db: Db, file: FileRow, now: number): Promise<string> {
  const id = r2JobId(file.r2Key);
  await db.batch([
    db
      .insert(cleanupJobs)
      .values({ id, kind: 'r2_object', target: file.r2Key, createdAt: now, runAfter: now })
      .onConflictDoUpdate({ target: cleanupJobs.id, set: { runAfter: now } }),
    db.delete(files).where(eq(files.id, file.id)),
  ]);
  return id;
}
