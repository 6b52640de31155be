import type { ApiError } from './errors';

type Row = { userId: string } | { ownerId: string };
const ownerOf = (row: Row) => ('ownerId' in row ? row.ownerId : row.userId);

/**
 * The one ownership rule, for every resource: read the row by id, then call this. A missing row
 * throws `missing()`; another user's throws `foreign()`, which on our routes is the same 404 (a
 * caller cannot tell another user's id from an unknown one) and on the upstream contract's routes is its own
 * 401/403 string (docs/conventions.md, "Ownership").
 */
export function owned<T extends Row>(row: T | null | undefined, userId: string, missing: () => ApiError, foreign: () => ApiError = missing): T {
  if (!row) throw missing();
  if (ownerOf(row) !== userId) throw foreign();
  return row;
}
