import { and, desc, eq, inArray, lte, ne, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { approvals } from '../db/schema';
import { badRequest } from '../lib/errors';

export type ApprovalRow = typeof approvals.$inferSelect;
export type NewApproval = typeof approvals.$inferInsert;

/**
 * A pending approval, spelled with a literal exactly as the partial index
 * approvals_pending_expiry_idx is: SQLite only uses a partial index when the query's WHERE
 * repeats its condition, and a bound parameter never matches a literal.
 */
export const isPending = sql`${approvals.status} = 'pending'`;
/** Not expired yet at `now` (a row without expires_at never expires). */
const unexpired = (now: number) => sql`(${approvals.expiresAt} IS NULL OR ${approvals.expiresAt} > ${now})`;

export async function insertApproval(db: Db, row: NewApproval): Promise<ApprovalRow> {
  return (await db.insert(approvals).values(row).returning())[0];
}

/** The user's approval, or null (another user's and a malformed id look exactly like an unknown one). */
export async function findUserApproval(db: Db, userId: string, id: string): Promise<ApprovalRow | null> {
  return (await db.select().from(approvals).where(and(eq(approvals.id, id), eq(approvals.userId, userId))).limit(1))[0] ?? null;
}

/**
 * The run-linked approval of (run_id, call_id), inserted unless one exists: the insert does
 * nothing on the unique approvals_run_call_idx, and the select (same batch: one round trip, one
 * transaction) reads whichever row holds the pair.
 */
export async function insertToolApproval(db: Db, row: NewApproval & { runId: string; callId: string }): Promise<ApprovalRow> {
  const [, found] = await db.batch([
    db.insert(approvals).values(row).onConflictDoNothing(),
    db.select().from(approvals).where(and(eq(approvals.runId, row.runId), eq(approvals.callId, row.callId))).limit(1),
  ]);
  return found[0];
}

/**
 * The decision, as ONE compare-and-set: the row changes only while it is still pending and not
 * past its expiry, so of two racing decisions exactly one matches a row; the other gets none.
 */
export async function decide(db: Db, userId: string, id: string, status: 'approved' | 'rejected', reason: string | null, now: number) {
  const rows = await db
    .update(approvals)
    .set({ status, reason, decidedAt: now, updatedAt: now })
    .where(and(eq(approvals.id, id), eq(approvals.userId, userId), isPending, unexpired(now)))
    .returning();
  return rows[0] ?? null;
}

/** One pending approval past its expiry becomes `expired` (compare-and-set too); null if it was not (any more). */
export async function expireOne(db: Db, userId: string, id: string, now: number) {
  const rows = await db
    .update(approvals)
    .set({ status: 'expired', decidedAt: now, updatedAt: now })
    .where(and(eq(approvals.id, id), eq(approvals.userId, userId), isPending, lte(approvals.expiresAt, now)))
    .returning();
  return rows[0] ?? null;
}

/**
 * The cron's sweep, unexecuted (tests EXPLAIN it): at most `max` pending approvals whose expiry
 * has passed, soonest first, found through the partial index approvals_pending_expiry_idx, become
 * `expired`. The outer WHERE repeats the pending condition, so a decision that lands between the
 * two never gets overwritten.
 */
export const expireDueQuery = (db: Db, now: number, max: number) =>
  db
    .update(approvals)
    .set({ status: 'expired', decidedAt: now, updatedAt: now })
    .where(
      and(
        isPending,
        inArray(
          approvals.id,
          db.select({ id: approvals.id }).from(approvals).where(and(isPending, lte(approvals.expiresAt, now))).orderBy(approvals.expiresAt).limit(max),
        ),
      ),
    )
    .returning();

// ---- The list: pending first, then newest first ----------------------------------------------

/**
 * GET /approvals answers pending approvals first, then the decided ones, each newest first by
 * (created_at, id). One `ORDER BY (status = 'pending') DESC, created_at DESC` would have to sort
 * all of the user's rows on every page (no index gives that order), so the list is two keyset
 * walks instead, each in index order:
 *   phase `p`: status = 'pending', through approvals_user_status_idx (user_id, status, created_at, id);
 *   phase `d`: status <> 'pending' (or the one decided status asked for), through
 *              approvals_user_created_idx (or approvals_user_status_idx with a status).
 * The cursor encodes the phase with the position, `p|created_at|id` or `d|created_at|id`: a page
 * continues its phase after the position and, once the pending walk runs out, starts the decided
 * walk from its top (both queries go in one batch, one round trip). A `status` filter keeps only
 * the one walk it names. An approval decided between two pages moves from the first walk to the
 * second (it may then show twice or, if decided before the cursor reaches it, once in the second
 * walk only); decided rows never move, so the decided walk itself never skips or repeats.
 */
export type Phase = 'p' | 'd';
interface ListPosition {
  phase: Phase;
  createdAt: number;
  id: string;
}

export function encodeListCursor(p: ListPosition): string {
  return btoa(`${p.phase}|${p.createdAt}|${p.id}`).replace(/=+$/, '');
}

export function decodeListCursor(cursor: string | undefined): ListPosition | null {
  if (!cursor) return null;
  try {
    const [phase, ts, id, ...rest] = atob(cursor).split('|');
    const createdAt = Number(ts);
    if ((phase !== 'p' && phase !== 'd') || !Number.isSafeInteger(createdAt) || !id || rest.length) throw new Error('bad cursor');
    return { phase, createdAt, id };
  } catch {
    throw badRequest('Invalid cursor', 'invalid_cursor');
  }
}

/** One walk's page, unexecuted (tests EXPLAIN it). */
export function selectWalk(db: Db, userId: string, phase: Phase, status: ApprovalRow['status'] | undefined, after: ListPosition | null, take: number) {
  const where: (SQL | undefined)[] = [eq(approvals.userId, userId)];
  if (phase === 'p') where.push(eq(approvals.status, 'pending'));
  else where.push(status === undefined ? ne(approvals.status, 'pending') : eq(approvals.status, status));
  if (after) where.push(sql`(${approvals.createdAt}, ${approvals.id}) < (${after.createdAt}, ${after.id})`);
  return db
    .select()
    .from(approvals)
    .where(and(...where))
    .orderBy(desc(approvals.createdAt), desc(approvals.id))
    .limit(take);
}

/** A page of the user's approvals, pending first (see above); `status` keeps one walk. */
export async function listUserApprovals(db: Db, userId: string, status: ApprovalRow['status'] | undefined, limit: number, cursor?: string) {
  const pos = decodeListCursor(cursor);
  const walks: Phase[] = status === undefined ? ['p', 'd'] : status === 'pending' ? ['p'] : ['d'];
  if (pos && !walks.includes(pos.phase)) throw badRequest('Invalid cursor', 'invalid_cursor');
  const phases = walks.slice(pos ? walks.indexOf(pos.phase) : 0);
  const [first, second] = phases.map((phase, i) => selectWalk(db, userId, phase, status, i === 0 ? pos : null, limit + 1));
  const results = second ? await db.batch([first, second]) : [await first];
  const rows = results.flatMap((rs, i) => rs.map((row) => ({ row, phase: phases[i] })));
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const nextCursor = rows.length > limit && last ? encodeListCursor({ phase: last.phase, createdAt: last.row.createdAt, id: last.row.id }) : null;
  return { items: items.map((i) => i.row), nextCursor };
}
