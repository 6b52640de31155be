import { and, eq, getTableColumns, sql } from 'drizzle-orm';
import { workspaceAgents, workspaces } from '../db/schema';
import { keyset } from '../lib/pagination';
import { queueJobsFor } from '../outbox/outbox';
import type { Db } from '../db/client';

export type WorkspaceRow = typeof workspaces.$inferSelect;

export async function insertWorkspace(db: Db, w: { id: string; ownerId: string; name: string; now: number }) {
  const [row] = await db
    .insert(workspaces)
    .values({ id: w.id, ownerId: w.ownerId, name: w.name, createdAt: w.now, updatedAt: w.now })
    .returning();
  return row;
}

/** Creates the workspace unless one with this id exists (ids made from a name, such as a user's "Agent chats"). */
export async function insertWorkspaceIfAbsent(db: Db, w: { id: string; ownerId: string; name: string; now: number }) {
  await db.insert(workspaces).values({ id: w.id, ownerId: w.ownerId, name: w.name, createdAt: w.now, updatedAt: w.now }).onConflictDoNothing();
}

/**
 * The workspace's agent ids (oldest first) as a JSON array, in the same query as the workspace:
 * a correlated subquery on workspace_agents' primary key, so a workspace or a page of them is
 * one D1 round trip.
 */
const agentIdsJson = sql<string>`(
  SELECT json_group_array(agent_id) FROM (
    SELECT wa.agent_id FROM ${workspaceAgents} wa WHERE wa.workspace_id = ${workspaces.id}
    ORDER BY wa.created_at, wa.agent_id))`;

const withAgents = { ...getTableColumns(workspaces), agentIds: agentIdsJson };
const parseAgents = ({ agentIds, ...w }: WorkspaceRow & { agentIds: string }): Workspace => ({
  ...w,
  agents: JSON.parse(agentIds) as string[],
});

export type Workspace = WorkspaceRow & { agents: string[] };

export async function findWorkspace(db: Db, id: string): Promise<Workspace | null> {
  const row = (await db.select(withAgents).from(workspaces).where(eq(workspaces.id, id)).limit(1))[0];
  return row ? parseAgents(row) : null;
}

export async function listWorkspaces(db: Db, ownerId: string, limit: number, cursor?: string): Promise<Workspace[]> {
  const k = keyset(workspaces.createdAt, workspaces.id, cursor);
  const rows = await db
    .select(withAgents)
    .from(workspaces)
    .where(and(eq(workspaces.ownerId, ownerId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
  return rows.map(parseAgents);
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
  const [chatJobs, fileJobs] = await d1.batch<{ id: string }>([
    queueJobsFor(d1, 'chat_room', 'c.id', 'FROM chats c WHERE c.workspace_id = ?3', now, id),
    queueJobsFor(d1, 'r2_object', 'f.r2_key', 'FROM files f WHERE f.workspace_id = ?3', now, id),
    d1.prepare('DELETE FROM workspaces WHERE id = ?1').bind(id),
  ]);
  return [...chatJobs.results, ...fileJobs.results].map((r) => r.id);
}
