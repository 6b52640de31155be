import { and, eq } from 'drizzle-orm';
import { files } from '../db/schema';
import { dropJob, jobId, queueJob } from '../outbox/outbox';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type FileRow = typeof files.$inferSelect;
export type NewFile = typeof files.$inferInsert;

/** Any user's file: the service checks ownership, and signed links carry their own authorization. */
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
  await queueJob(db, 'r2_object', key, now, runAfter);
}

/** The upload made it: the row appears and the pending cleanup disappears, atomically. */
export async function commitFile(db: Db, row: NewFile): Promise<FileRow> {
  const [inserted] = await db.batch([
    db.insert(files).values(row).returning(),
    dropJob(db, 'r2_object', row.r2Key),
  ]);
  return inserted[0];
}

/** Deletes the row and queues its R2 object for deletion in one batch; returns the job id. */
export async function deleteFile(db: Db, file: FileRow, now: number): Promise<string> {
  await db.batch([queueJob(db, 'r2_object', file.r2Key, now), db.delete(files).where(eq(files.id, file.id))]);
  return jobId('r2_object', file.r2Key);
}
