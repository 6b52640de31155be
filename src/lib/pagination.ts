import { z } from '@hono/zod-openapi';
import { desc, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import { badRequest } from './errors';

/** `limit` (default 50, max 100) and an opaque `cursor`; lists are newest first by (created_at, id). */
export const pageQuery = z.object({
  limit: z.coerce
    .number({ error: 'limit must be an integer between 1 and 100' })
    .int({ error: 'limit must be an integer between 1 and 100' })
    .min(1, { error: 'limit must be an integer between 1 and 100' })
    .max(100, { error: 'limit must be an integer between 1 and 100' })
    .default(50)
    .openapi({ param: { name: 'limit', in: 'query' }, example: 50 }),
  cursor: z.string().optional().openapi({ param: { name: 'cursor', in: 'query' } }),
});

export const nextCursorSchema = z.string().nullable().openapi({ description: 'Pass as `cursor` for the next page' });

interface Position {
  createdAt: number;
  id: string;
}

export function encodeCursor(p: Position): string {
  return btoa(`${p.createdAt}|${p.id}`).replace(/=+$/, '');
}

export function decodeCursor(cursor: string | undefined): Position | null {
  if (!cursor) return null;
  try {
    const [ts, id] = atob(cursor).split('|');
    const createdAt = Number(ts);
    if (!Number.isSafeInteger(createdAt) || !id) throw new Error('bad cursor');
    return { createdAt, id };
  } catch {
    throw badRequest('Invalid cursor', 'invalid_cursor');
  }
}

/**
 * The WHERE part for "after this cursor" and the ORDER BY for newest first. A row-value
 * comparison lets SQLite seek straight to the cursor in a (…, created_at, id) index; the
 * equivalent OR form makes it walk the index from the newest row.
 */
export function keyset(createdAt: SQLiteColumn, id: SQLiteColumn, cursor: string | undefined) {
  const pos = decodeCursor(cursor);
  const where: SQL | undefined = pos ? sql`(${createdAt}, ${id}) < (${pos.createdAt}, ${pos.id})` : undefined;
  return { where, orderBy: [desc(createdAt), desc(id)] };
}

/** Rows were fetched with `limit + 1`; the extra one only says there is a next page. */
export function page<T extends Position>(rows: T[], limit: number): { items: T[]; nextCursor: string | null } {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, nextCursor: rows.length > limit && last ? encodeCursor(last) : null };
}
