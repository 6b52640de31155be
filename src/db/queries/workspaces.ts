import { and, eq, inArray } from 'drizzle-orm';
import { workspaceAgents, workspaces } from '../schema';
import { keyset } from '../../lib/pagination';
import { chunk } from '../../lib/chunk';
import type { Db } from '../../lib/types';

export type WorkspaceRow = typeof workspaces.$inferSelect;

export async function insertWorkspace(db: Db, w: { id: string; ownerId: string; name: string; now: number }) {
  const [row] = await db
    .insert(workspaces)
    .values({ id: w.id, ownerId: w.ownerId, name: w.name, createdAt: w.now, updatedAt: w.now })
    .returning();
  return row;
}

export async function findWorkspace(db: Db, id: string): Promise<WorkspaceRow | null> {
  return (await db.select().from(workspaces).where(eq(workspaces.id, id)).limit(1))[0] ?? null;
}

export async function listWorkspaces(db: Db, ownerId: string, limit: number, cursor?: string) {
  const k = keyset(workspaces.createdAt, workspaces.id, cursor);
  return db
    .select()
    .from(workspaces)
    .where(and(eq(workspaces.ownerId, ownerId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

/** Agent ids per workspace, for a page of workspaces in one query (ids chunked for D1's limit). */
export async function agentIdsFor(db: Db, workspaceIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(workspaceIds.map((id) => [id, []]));
  for (const part of chunk(workspaceIds)) {
    const rows = await db
      .select({ workspaceId: workspaceAgents.workspaceId, agentId: workspaceAgents.agentId })
      .from(workspaceAgents)
      .where(inArray(workspaceAgents.workspaceId, part))
      .orderBy(workspaceAgents.createdAt);
    for (const r of rows) out.get(r.workspaceId)?.push(r.agentId);
  }
  return out;
}

export async function renameWorkspace(db: Db, id: string, name: string, now: number) {
  await db.update(workspaces).set({ name, updatedAt: now }).where(eq(workspaces.id, id));
}

/**
 * Deletes a workspace and, through foreign keys, everything in it, in one batch that also queues
 * the cleanup outside D1 (each chat's Durable Object, each file's R2 object). Returns the job ids.
 */
export async function deleteWorkspace(db: Db, id: string, now: number): Promise<string[]> {
  const d1 = db.$client;
  const queue = (kind: 'chat_room' | 'r2_object', select: string) =>
    d1
      .prepare(
        `INSERT INTO cleanup_jobs (id, kind, target, attempts, created_at, run_after)
         ${select} ON CONFLICT (id) DO NOTHING RETURNING id`,
      )
      .bind(kind, now, id);
  const [chatJobs, fileJobs] = await d1.batch<{ id: string }>([
    queue('chat_room', `SELECT ?1 || ':' || c.id, ?1, c.id, 0, ?2, ?2 FROM chats c WHERE c.workspace_id = ?3`),
    queue('r2_object', `SELECT ?1 || ':' || f.r2_key, ?1, f.r2_key, 0, ?2, ?2 FROM files f WHERE f.workspace_id = ?3`),
    d1.prepare('DELETE FROM workspaces WHERE id = ?1').bind(id),
  ]);
  return [...chatJobs.results, ...fileJobs.results].map((r) => r.id);
}
