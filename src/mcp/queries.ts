import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { mcpServerLogs, mcpServers } from '../db/schema';
import { newId } from '../lib/ids';
import { keyset, page } from '../lib/pagination';

/** The MCP area's D1 access: servers by owner, and their bounded logs. */

export type McpServerRow = typeof mcpServers.$inferSelect;
export type NewMcpServer = typeof mcpServers.$inferInsert;
export type McpLogRow = typeof mcpServerLogs.$inferSelect;
export type McpLogKind = 'connected' | 'disconnected' | 'stopped' | 'error' | 'tool_call' | 'tool_error';

export const getServer = (db: Db, id: string) => db.query.mcpServers.findFirst({ where: eq(mcpServers.id, id) });

export const serverBySlug = (db: Db, userId: string, slug: string) =>
  db.query.mcpServers.findFirst({ where: and(eq(mcpServers.userId, userId), eq(mcpServers.slug, slug)) });

export async function listServers(db: Db, userId: string, limit: number, cursor: string | undefined) {
  const k = keyset(mcpServers.createdAt, mcpServers.id, cursor);
  const rows = await db
    .select()
    .from(mcpServers)
    .where(and(eq(mcpServers.userId, userId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
  return page(rows, limit);
}

export const runningServers = (db: Db, userId: string, slugs: string[]) =>
  slugs.length === 0
    ? Promise.resolve([])
    : db
        .select()
        .from(mcpServers)
        .where(and(eq(mcpServers.userId, userId), inArray(mcpServers.slug, slugs), eq(mcpServers.status, 'running')));

/** Unique (user, slug): the index says so when two writes race past the read. */
export const isSlugConflict = (err: unknown) => String((err as Error)?.message ?? err).includes('mcp_servers.') && /UNIQUE/i.test(String((err as Error)?.message ?? err));

/** A log entry and the trim that keeps the newest `max` of its server's, in one batch. */
export function logStatements(db: Db, serverId: string, kind: McpLogKind, message: string, max: number, at = Date.now()) {
  return [
    db.insert(mcpServerLogs).values({ id: newId(), serverId, at, kind, message: message.slice(0, 2000) }),
    db.delete(mcpServerLogs).where(
      and(
        eq(mcpServerLogs.serverId, serverId),
        sql`${mcpServerLogs.id} NOT IN (SELECT ${sql.raw('id')} FROM ${mcpServerLogs} WHERE ${sql.raw('server_id')} = ${serverId} ORDER BY ${sql.raw('at')} DESC, ${sql.raw('id')} DESC LIMIT ${max})`,
      ),
    ),
  ] as const;
}

/**
 * Writes a server's change and a log entry (trimmed) together. With `ifUpdatedAt`, the change is a
 * compare-and-set: it is dropped (the log entry stays) when the row changed since it was read (a
 * stop or a PUT while a start was connecting); answers whether it was written.
 */
export async function updateWithLog(db: Db, serverId: string, changes: Partial<NewMcpServer>, kind: McpLogKind, message: string, max: number, ifUpdatedAt?: number) {
  const [insert, trim] = logStatements(db, serverId, kind, message, max);
  const where = ifUpdatedAt === undefined ? eq(mcpServers.id, serverId) : and(eq(mcpServers.id, serverId), eq(mcpServers.updatedAt, ifUpdatedAt));
  const [update] = await db.batch([db.update(mcpServers).set(changes).where(where), insert, trim]);
  return (update as unknown as D1Result).meta.changes > 0;
}

export async function addLog(db: Db, serverId: string, kind: McpLogKind, message: string, max: number) {
  const [insert, trim] = logStatements(db, serverId, kind, message, max);
  await db.batch([insert, trim]);
}

export async function listLogs(db: Db, serverId: string, limit: number, cursor: string | undefined) {
  const k = keyset(mcpServerLogs.at, mcpServerLogs.id, cursor);
  const rows = await db
    .select()
    .from(mcpServerLogs)
    .where(and(eq(mcpServerLogs.serverId, serverId), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
  return page(rows.map((r) => ({ ...r, createdAt: r.at })), limit);
}
