import { and, desc, eq, isNull, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Db } from '../db/client';
import { agents, memories } from '../db/schema';
import { keyset } from '../lib/pagination';

/**
 * The memories area's D1 statements. Every one is scoped by user_id and agent_id (or, for one
 * memory by id, by user_id and a live agent of that user), so a memory never leaks to another
 * user or another agent. Lists walk memories_user_agent_idx, or memories_user_agent_category_idx
 * with a category.
 */

export type MemoryRow = typeof memories.$inferSelect;
export type NewMemory = typeof memories.$inferInsert;

export async function insertMemory(db: Db, m: NewMemory): Promise<MemoryRow> {
  const [row] = await db.insert(memories).values(m).returning();
  return row;
}

/** `%`, `_` and the escape character itself, matched literally in a LIKE pattern with ESCAPE '\'. */
export const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

export interface MemoryFilters {
  category?: string;
  /** Case-insensitive substring of the content (ASCII case folding, as SQLite's LIKE does). */
  query?: string;
}

/** A page of the agent's memories of the user, newest first by (created_at, id); `limit + 1` rows. */
export function listMemories(db: Db, userId: string, agentId: string, f: MemoryFilters, limit: number, cursor?: string): Promise<MemoryRow[]> {
  const k = keyset(memories.createdAt, memories.id, cursor);
  const where: (SQL | undefined)[] = [eq(memories.userId, userId), eq(memories.agentId, agentId), k.where];
  if (f.category !== undefined) where.push(eq(memories.category, f.category));
  if (f.query) where.push(sql`${memories.content} LIKE ${`%${escapeLike(f.query)}%`} ESCAPE '\\'`);
  return db.select().from(memories).where(and(...where)).orderBy(...k.orderBy).limit(limit + 1);
}

/**
 * A memory of the user whose agent is still live (a deleted agent's memories are gone for every
 * route, as the agent is), else null.
 */
const liveAgentOwns = sql`EXISTS (SELECT 1 FROM ${agents} WHERE ${agents.id} = ${memories.agentId} AND ${agents.userId} = ${memories.userId} AND ${isNull(agents.deletedAt)})`;
const mine = (userId: string, memoryId: string) => and(eq(memories.id, memoryId), eq(memories.userId, userId), liveAgentOwns);

export async function updateMemory(
  db: Db,
  userId: string,
  memoryId: string,
  set: { content?: string; category?: string; updatedAt: number },
): Promise<MemoryRow | null> {
  const rows = await db.update(memories).set(set).where(mine(userId, memoryId)).returning();
  return rows[0] ?? null;
}

export async function deleteMemory(db: Db, userId: string, memoryId: string): Promise<{ id: string; userId: string } | null> {
  const rows = await db.delete(memories).where(mine(userId, memoryId)).returning({ id: memories.id, userId: memories.userId });
  return rows[0] ?? null;
}

/** Count, UTF-8 bytes and the oldest and newest created_at per category, in one grouped statement. */
export function memoryStatsQuery(db: Db, userId: string, agentId: string) {
  return db
    .select({
      category: memories.category,
      count: sql<number>`COUNT(*)`,
      bytes: sql<number>`COALESCE(SUM(LENGTH(CAST(${memories.content} AS BLOB))), 0)`,
      oldest: sql<number>`MIN(${memories.createdAt})`,
      newest: sql<number>`MAX(${memories.createdAt})`,
    })
    .from(memories)
    .where(and(eq(memories.userId, userId), eq(memories.agentId, agentId)))
    .groupBy(memories.category)
    .orderBy(memories.category);
}

/** How many memories the prompt's first read takes (the admission statement reads as many). */
export const PROMPT_FIRST_BATCH = 32;

/** A memory as the prompt shows it. */
export type PromptMemory = { id: string; content: string; category: string; createdAt: number };

/**
 * The newest `limit` memories of the user (`userId`: a column or value of the caller's statement)
 * for the agent, as one JSON array value: a run's admission statement (src/durable/run-agent.ts)
 * reads the prompt's first batch with everything else it reads, through memories_user_agent_idx.
 */
export const promptMemoriesSql = (userId: SQLWrapper, agentId: string, limit: number) =>
  sql<string>`(SELECT json_group_array(json_object('id', id, 'content', content, 'category', category, 'createdAt', created_at)) FROM (
    SELECT ${memories.id} AS id, ${memories.content} AS content, ${memories.category} AS category, ${memories.createdAt} AS created_at FROM ${memories}
    WHERE ${memories.userId} = ${userId} AND ${memories.agentId} = ${agentId} ORDER BY ${memories.createdAt} DESC, ${memories.id} DESC LIMIT ${limit}))`;

/** Newest first, for the prompt: only what the prompt shows. */
export function promptMemories(db: Db, userId: string, agentId: string, limit: number, after?: { createdAt: number; id: string }) {
  const where: (SQL | undefined)[] = [eq(memories.userId, userId), eq(memories.agentId, agentId)];
  if (after) where.push(sql`(${memories.createdAt}, ${memories.id}) < (${after.createdAt}, ${after.id})`);
  return db
    .select({ id: memories.id, content: memories.content, category: memories.category, createdAt: memories.createdAt })
    .from(memories)
    .where(and(...where))
    .orderBy(desc(memories.createdAt), desc(memories.id))
    .limit(limit);
}
