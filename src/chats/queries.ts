import { and, eq, inArray } from 'drizzle-orm';
import { chats, sessionChats } from '../db/schema';
import { jobId, queueJob } from '../outbox/outbox';
import { chunk } from '../lib/chunk';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type ChatRow = typeof chats.$inferSelect;

export async function insertChat(
  db: Db,
  c: { id: string; workspaceId: string; ownerId: string; title: string | null; now: number },
): Promise<ChatRow> {
  const [row] = await db
    .insert(chats)
    .values({ id: c.id, workspaceId: c.workspaceId, ownerId: c.ownerId, title: c.title, createdAt: c.now })
    .returning();
  return row;
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
