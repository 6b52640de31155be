import { and, eq, getTableColumns, isNull, not, sql, type SQL } from 'drizzle-orm';
import { agents, chats, tasks, workspaceAgents } from '../db/schema';
import { keyset } from '../lib/pagination';
import { hasLiveRun } from '../runs/queries';
import type { Db } from '../db/client';

export type AgentRow = typeof agents.$inferSelect;
export type NewAgent = typeof agents.$inferInsert;
/** The columns a create, an edit or an install writes. */
export type AgentValues = Pick<NewAgent, 'name' | 'description' | 'type' | 'role' | 'systemPrompt' | 'model' | 'tools' | 'config'>;

const live = isNull(agents.deletedAt);

/**
 * The agent if `userId` has it and it is not deleted, else null (another user's agent, a deleted
 * one and a malformed id look exactly like an unknown one). Other routes use it to check an
 * `agent_id` from a body.
 */
export async function findUserAgent(db: Db, userId: string, agentId: string): Promise<AgentRow | null> {
  return (await db.select().from(agents).where(and(eq(agents.id, agentId), eq(agents.userId, userId), live)).limit(1))[0] ?? null;
}

export interface AgentFilters {
  status?: 'idle' | 'offline';
  /** true: only agents with a live run (reported `running`); false: only those without one. */
  running?: boolean;
  type?: string;
  role?: string;
}

/** An agent row and whether it has a live run (its reported status is then `running`). */
export type AgentWithRuns = AgentRow & { running: boolean };

/**
 * Newest first through agents_user_live_created_idx; the filters are checked on the rows it walks,
 * the live-run check through runs_live_agent_idx, in the same query (one round trip per page).
 */
export async function listUserAgents(db: Db, userId: string, f: AgentFilters, limit: number, cursor?: string): Promise<AgentWithRuns[]> {
  const k = keyset(agents.createdAt, agents.id, cursor);
  const where: (SQL | undefined)[] = [eq(agents.userId, userId), live, k.where];
  if (f.status) where.push(eq(agents.status, f.status));
  if (f.running !== undefined) where.push(f.running ? hasLiveRun(agents.id) : not(hasLiveRun(agents.id)));
  if (f.type !== undefined) where.push(eq(agents.type, f.type));
  if (f.role !== undefined) where.push(eq(agents.role, f.role));
  return db
    .select({ ...getTableColumns(agents), running: hasLiveRun(agents.id).mapWith(Boolean) })
    .from(agents)
    .where(and(...where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

export async function insertAgent(db: Db, a: NewAgent): Promise<AgentRow> {
  const [row] = await db.insert(agents).values(a).returning();
  return row;
}

/** Updates a live agent of the user; null when there is none. */
export async function updateUserAgent(
  db: Db,
  userId: string,
  agentId: string,
  set: Partial<AgentValues> & { status?: 'idle' | 'offline'; updatedAt: number },
): Promise<AgentRow | null> {
  const rows = await db
    .update(agents)
    .set(set)
    .where(and(eq(agents.id, agentId), eq(agents.userId, userId), live))
    .returning();
  return rows[0] ?? null;
}

export interface Install extends AgentValues {
  id: string;
  userId: string;
  packageName: string;
  version: string;
  now: number;
}

/**
 * One live agent per package per user: installing again replaces version and the package's
 * fields in place, so the agent_id (and every workspace or task that points at it) survives
 * upgrades. The version installed is the one last asked for (a pinned older version replaces a
 * newer one). A deleted agent is outside the partial unique index, so installing again makes a
 * new agent.
 */
export async function upsertAgent(db: Db, a: Install): Promise<void> {
  const { now, ...values } = a;
  await db
    .insert(agents)
    .values({ ...values, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: [agents.userId, agents.packageName],
      targetWhere: sql`${agents.deletedAt} IS NULL`,
      set: {
        version: sql`excluded.version`,
        name: sql`excluded.name`,
        description: sql`excluded.description`,
        systemPrompt: sql`excluded.system_prompt`,
        model: sql`excluded.model`,
        tools: sql`excluded.tools`,
        config: sql`excluded.config`,
        updatedAt: sql`excluded.updated_at`,
      },
      // Versions are immutable: re-installing the one already there changes nothing, not even updated_at.
      setWhere: sql`${agents.version} IS NOT excluded.version`,
    });
}

/**
 * Soft delete, in one batch: the agent is marked deleted, leaves every workspace, the tasks
 * assigned to it keep no agent and the chats it was the default agent of keep none. Its row
 * stays. Returns what was deleted, or null.
 */
export async function softDeleteUserAgent(db: Db, userId: string, agentId: string, now: number): Promise<{ id: string; userId: string } | null> {
  const mine = and(eq(agents.id, agentId), eq(agents.userId, userId), live);
  const owns = sql`EXISTS (SELECT 1 FROM ${agents} WHERE ${mine})`;
  // The link, task and chat statements run first, while the agent is still live, so the same check guards them all.
  const [, , , deleted] = await db.batch([
    db.delete(workspaceAgents).where(and(eq(workspaceAgents.agentId, agentId), owns)),
    db.update(tasks).set({ agentId: null }).where(and(eq(tasks.agentId, agentId), eq(tasks.userId, userId), owns)),
    db.update(chats).set({ agentId: null }).where(and(eq(chats.agentId, agentId), eq(chats.ownerId, userId), owns)),
    db.update(agents).set({ deletedAt: now, updatedAt: now }).where(mine).returning({ id: agents.id, userId: agents.userId }),
  ]);
  return deleted[0] ?? null;
}

export async function addWorkspaceAgent(db: Db, workspaceId: string, agentId: string, now: number) {
  await db.insert(workspaceAgents).values({ workspaceId, agentId, createdAt: now }).onConflictDoNothing();
}

/**
 * Takes the agent out of the workspace and, in the same batch, stops it being the default agent
 * of that workspace's chats (D1 side; the chat's object finds out when it next runs it).
 */
export async function removeWorkspaceAgent(db: Db, workspaceId: string, agentId: string) {
  await db.batch([
    db.update(chats).set({ agentId: null }).where(and(eq(chats.workspaceId, workspaceId), eq(chats.agentId, agentId))),
    db.delete(workspaceAgents).where(and(eq(workspaceAgents.workspaceId, workspaceId), eq(workspaceAgents.agentId, agentId))),
  ]);
}
