import { and, eq, sql } from 'drizzle-orm';
import { agents, workspaceAgents } from '../db/schema';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type AgentRow = typeof agents.$inferSelect;

/**
 * The agent if `userId` installed it, else null (another user's agent and a malformed id look
 * exactly like an unknown one). Other routes use it to check an `agent_id` from a body.
 */
export async function findUserAgent(db: Db, userId: string, agentId: string): Promise<AgentRow | null> {
  return (await db.select().from(agents).where(and(eq(agents.id, agentId), eq(agents.userId, userId))).limit(1))[0] ?? null;
}

export async function listUserAgents(db: Db, userId: string, limit: number, cursor?: string) {
  const k = keyset(agents.createdAt, agents.id, cursor);
  return db
    .select()
    .from(agents)
    .where(and(eq(agents.userId, userId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

export interface Install {
  id: string;
  userId: string;
  packageName: string;
  version: string;
  name: string;
  description: string;
  definition: string;
  now: number;
}

/**
 * One agent per package per user: installing again replaces version, description and definition
 * in place, so the agent_id (and every workspace or task that points at it) survives upgrades.
 * The version installed is the one last asked for (a pinned older version replaces a newer one).
 */
export async function upsertAgent(db: Db, a: Install): Promise<void> {
  await db
    .insert(agents)
    .values({
      id: a.id,
      userId: a.userId,
      packageName: a.packageName,
      version: a.version,
      name: a.name,
      description: a.description,
      definition: a.definition,
      createdAt: a.now,
      updatedAt: a.now,
    })
    .onConflictDoUpdate({
      target: [agents.userId, agents.packageName],
      set: {
        version: sql`excluded.version`,
        name: sql`excluded.name`,
        description: sql`excluded.description`,
        definition: sql`excluded.definition`,
        updatedAt: sql`excluded.updated_at`,
      },
      // Versions are immutable: re-installing the one already there changes nothing, not even updated_at.
      setWhere: sql`${agents.version} IS NOT excluded.version`,
    });
}

/** Foreign keys take the agent out of every workspace and unlink its tasks. Returns what went, or null. */
export async function deleteUserAgent(db: Db, userId: string, agentId: string): Promise<{ id: string; userId: string } | null> {
  const rows = await db
    .delete(agents)
    .where(and(eq(agents.id, agentId), eq(agents.userId, userId)))
    .returning({ id: agents.id, userId: agents.userId });
  return rows[0] ?? null;
}

export async function addWorkspaceAgent(db: Db, workspaceId: string, agentId: string, now: number) {
  await db.insert(workspaceAgents).values({ workspaceId, agentId, createdAt: now }).onConflictDoNothing();
}

export async function removeWorkspaceAgent(db: Db, workspaceId: string, agentId: string) {
  await db
    .delete(workspaceAgents)
    .where(and(eq(workspaceAgents.workspaceId, workspaceId), eq(workspaceAgents.agentId, agentId)));
}
