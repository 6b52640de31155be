import type { Db } from '../db/client';
import { findChat } from '../chats/queries';
import { chatRoom } from '../chats/room';
import { getDb } from '../db/client';
import { config } from '../lib/config';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import type { Deps } from '../lib/types';
import { decide, expireDueQuery, expireOne, findUserApproval, insertApproval, insertToolApproval, listUserApprovals, type ApprovalRow } from './queries';
import type { ApprovalStatus, CreateApprovalInput } from './schemas';

/**
 * The approvals area (seed 001's human approval queue): requests a user raises for themselves
 * (POST /approvals) and the ones the agent run engine raises for a tool call marked
 * `requires_approval` (createToolApproval), decided once by approve, reject or expiry.
 */
export const APPROVAL_NOT_FOUND = 'Approval not found';
export const ALREADY_DECIDED = 'Approval is already <status>';
/** How many expired approvals one cron tick marks (the rest wait for the next minute). */
export const APPROVAL_EXPIRY_BATCH = 200;

const approvalNotFound = () => notFound(APPROVAL_NOT_FOUND, 'approval_not_found');
const alreadyDecided = (status: ApprovalStatus) => new ApiError(409, 'approval_decided', `Approval is already ${status}`);

/** The caller's approval, or 404 `Approval not found` (another user's looks unknown). */
export async function ownApproval(db: Db, userId: string, id: string): Promise<ApprovalRow> {
  return owned(await findUserApproval(db, userId, id), userId, approvalNotFound);
}

/** POST /approvals: a pending request the caller raises for themselves, expiring after APPROVAL_TIMEOUT_SECONDS. */
export async function raiseApproval(db: Db, userId: string, body: CreateApprovalInput, timeoutSeconds: number, now = Date.now()): Promise<ApprovalRow> {
  return insertApproval(db, {
    id: newId(),
    userId,
    title: body.title,
    description: body.description ?? null,
    payload: body.payload === undefined || body.payload === null ? null : JSON.stringify(body.payload),
    status: 'pending',
    createdAt: now,
    expiresAt: now + timeoutSeconds * 1000,
    updatedAt: now,
  });
}

export const listApprovals = (db: Db, userId: string, status: ApprovalStatus | undefined, limit: number, cursor?: string) =>
  listUserApprovals(db, userId, status, limit, cursor);

export interface ToolApprovalInput {
  userId: string;
  runId: string;
  chatId: string;
  callId: string;
  tool: string;
  arguments: unknown;
  title: string;
  now: number;
  timeoutSeconds: number;
}

/**
 * For the agent run engine: the pending approval that holds a run's tool call marked
 * `requires_approval`, linked to the run (run_id, chat_id, call_id, tool, arguments). Idempotent
 * on (run_id, call_id): a second call (a retried step, a resumed run) returns the existing row,
 * whatever its state, unchanged. When it is decided or expires, the run's chat object hears it
 * through `ChatRoom.approvalDecided` (notifyRun).
 */
export async function createToolApproval(db: Db, a: ToolApprovalInput): Promise<ApprovalRow> {
  return insertToolApproval(db, {
    id: newId(),
    userId: a.userId,
    title: a.title,
    description: null,
    payload: null,
    status: 'pending',
    runId: a.runId,
    chatId: a.chatId,
    callId: a.callId,
    tool: a.tool,
    arguments: a.arguments === undefined ? null : JSON.stringify(a.arguments),
    createdAt: a.now,
    expiresAt: a.now + a.timeoutSeconds * 1000,
    updatedAt: a.now,
  });
}

/**
 * Tells a run-linked approval's chat object the decision (approved, rejected or expired);
 * nothing for an approval raised by a user. A deleted chat's object is never woken (D1 first).
 * Never throws: failures are logged, and the engine's own alarm re-checks its pending waits.
 */
export async function notifyRun(env: Env, row: ApprovalRow): Promise<void> {
  if (!row.runId || !row.chatId || !row.callId || row.status === 'pending') return;
  try {
    if (!(await findChat(getDb(env), row.chatId))) return;
    const result = await chatRoom(env, row.chatId).approvalDecided(row.runId, row.callId, { approvalId: row.id, status: row.status, reason: row.reason });
    if (!result.ok) throw new Error(`${result.code}: ${result.msg}`);
  } catch (err) {
    console.error(JSON.stringify({ msg: 'approval notification failed', approval_id: row.id, run_id: row.runId, error: String(err) }));
  }
}

/**
 * Approve or reject: one compare-and-set (queries.ts `decide`). The loser of a race, or a second
 * decision, is 409 `approval_decided` naming the state it is in; a pending approval past its
 * expiry that the cron has not swept yet is marked `expired` here and answers the same 409. The
 * run's chat object hears the outcome after the response (waitUntil).
 */
export async function decideApproval(
  deps: Deps,
  userId: string,
  id: string,
  status: 'approved' | 'rejected',
  reason: string | null,
  now = Date.now(),
): Promise<ApprovalRow> {
  const row = await decide(deps.db, userId, id, status, reason, now);
  if (row) {
    deps.waitUntil(notifyRun(deps.env, row));
    return row;
  }
  const current = await ownApproval(deps.db, userId, id);
  if (current.status !== 'pending') throw alreadyDecided(current.status);
  // Still pending but not decidable: its expiry has passed.
  const expired = await expireOne(deps.db, userId, id, now);
  if (expired) {
    deps.waitUntil(notifyRun(deps.env, expired));
    throw alreadyDecided('expired');
  }
  // Someone else decided or expired it in between: report what it is now.
  throw alreadyDecided((await ownApproval(deps.db, userId, id)).status);
}

/**
 * The cron job: at most APPROVAL_EXPIRY_BATCH pending approvals past their expiry become
 * `expired` (through the partial index), then each run-linked one's chat object hears it. Nothing
 * is retried: the engine's own alarm re-checks its pending waits. Returns how many it expired.
 */
export async function expireApprovals(env: Env, now = Date.now(), max = APPROVAL_EXPIRY_BATCH): Promise<number> {
  const rows = await expireDueQuery(getDb(env), now, max);
  await Promise.all(rows.map((r) => notifyRun(env, r)));
  return rows.length;
}

/** APPROVAL_TIMEOUT_SECONDS, for the routes. */
export const approvalTimeout = (env: Env) => config(env).tools.approvalTimeoutSeconds;
