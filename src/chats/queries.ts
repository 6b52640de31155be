import { and, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { agents, chats, sessionChats, workspaceAgents } from '../db/schema';
import { jobId, queueJob } from '../outbox/outbox';
import { chunk } from '../lib/chunk';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type ChatRow = typeof chats.$inferSelect;

/**
 * Inserts the chat. With an `agentId` (its default agent), the row is only written if that agent
 * is the owner's live agent and in the workspace at that moment (one statement, so a concurrent
 * delete or removal of the agent cannot slip between the check and the write): null otherwise.
 */
export async function insertChat(
  db: Db,
  c: { id: string; workspaceId: string; ownerId: string; title: string | null; agentId?: string | null; now: number },
): Promise<ChatRow | null> {
  const values = { id: c.id, workspaceId: c.workspaceId, ownerId: c.ownerId, title: c.title, agentId: c.agentId ?? null, createdAt: c.now };
  if (!c.agentId) return (await db.insert(chats).values(values).returning())[0];
  const as = <T>(v: T, name: string) => sql<T>`${v}`.as(name);
  const row = db
    .select({
      id: as(values.id, 'id'),
      workspaceId: as(values.workspaceId, 'workspace_id'),
      ownerId: as(values.ownerId, 'owner_id'),
      title: as(values.title, 'title'),
      agentId: as(values.agentId, 'agent_id'),
      createdAt: as(values.createdAt, 'created_at'),
    })
    .from(workspaceAgents)
    .innerJoin(agents, eq(agents.id, workspaceAgents.agentId))
    .where(
      and(eq(workspaceAgents.workspaceId, c.workspaceId), eq(workspaceAgents.agentId, c.agentId), eq(agents.userId, c.ownerId), isNull(agents.deletedAt)),
    );
  return (await db.insert(chats).select(row).returning())[0] ?? null;
}

/** "The user's live agent `agentId` is in the workspace `workspaceId`" (a value or a column), as SQL. */
const agentFits = (agentId: string, userId: string, workspaceId: SQLiteColumn | SQL) => sql`EXISTS (
  SELECT 1 FROM ${workspaceAgents} JOIN ${agents} ON ${agents.id} = ${workspaceAgents.agentId}
  WHERE ${workspaceAgents.workspaceId} = ${workspaceId} AND ${workspaceAgents.agentId} = ${agentId}
    AND ${agents.userId} = ${userId} AND ${agents.deletedAt} IS NULL)`;

/**
 * Sets (or, with null, clears) the chat's default agent. Setting one only lands if it is the
 * owner's live agent and in the chat's workspace, checked in the same statement. Returns the new
 * row, or null when nothing matched (the chat is gone, or the agent does not fit any more).
 */
export async function setChatAgent(db: Db, ownerId: string, chatId: string, agentId: string | null): Promise<ChatRow | null> {
  const rows = await db
    .update(chats)
    .set({ agentId })
    .where(and(eq(chats.id, chatId), eq(chats.ownerId, ownerId), agentId === null ? undefined : agentFits(agentId, ownerId, chats.workspaceId)))
    .returning();
  return rows[0] ?? null;
}

export async function findChat(db: Db, id: string): Promise<ChatRow | null> {
  return (await db.select().from(chats).where(eq(chats.id, id)).limit(1))[0] ?? null;
}

/** A page of chats, newest first, in one workspace or (without `workspaceId`) all of the owner's. */
export async function listChats(db: Db, f: { ownerId: string; workspaceId?: string }, limit: number, cursor?: string) {
  const k = keyset(chats.createdAt, chats.id, cursor);
  const scope = f.workspaceId ? eq(chats.workspaceId, f.workspaceId) : eq(chats.ownerId, f.ownerId);
  return db
    .select()
    .from(chats)
    .where(and(scope, k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
}

/**
 * Deletes the chat row (session_chats go with it) and queues its Durable Object's cleanup, in
 * one batch, so a failure after this leaves a job for the cron sweep. Returns the job id.
 */
export async function deleteChat(db: Db, chatId: string, now: number): Promise<string> {
  await db.batch([queueJob(db, 'chat_room', chatId, now), db.delete(chats).where(eq(chats.id, chatId))]);
  return jobId('chat_room', chatId);
}

/** Remembers that a session authorized a chat, so revoking the session can reach its sockets. */
export async function recordSessionChat(db: Db, sessionId: string, chatId: string, now: number) {
  await db
    .insert(sessionChats)
    .values({ sessionId, chatId, createdAt: now })
    .onConflictDoNothing();
}

/** chat id -> the given sessions that authorized it. */
export async function chatsOfSessions(db: Db, sessionIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const part of chunk(sessionIds)) {
    const rows = await db
      .select({ sessionId: sessionChats.sessionId, chatId: sessionChats.chatId })
      .from(sessionChats)
      .where(inArray(sessionChats.sessionId, part));
    for (const r of rows) out.set(r.chatId, [...(out.get(r.chatId) ?? []), r.sessionId]);
  }
  return out;
}

export async function forgetSessionChats(db: Db, chatId: string, sessionIds: string[]) {
  for (const part of chunk(sessionIds)) {
    await db.delete(sessionChats).where(and(eq(sessionChats.chatId, chatId), inArray(sessionChats.sessionId, part)));
  }
}
