import {
  deleteProcess,
  findOwnProcess,
  insertProcessWithinCap,
  listExecutions,
  listProcesses,
  updateProcess,
  type ExecutionRow,
  type ProcessInsert,
  type ProcessRow,
} from './queries';
import type { Db } from '../db/client';
import { config } from '../lib/config';
import { conflict, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { ownWorkspace } from '../workspaces/service';
import { checkAction, nextRunAt, patchChanges } from './checks';
import { executeNow } from './execute';
import type { CreateProcessInput, UpdateProcessInput } from './schemas';
import { newWebhookSecret } from './webhook';
import type { DataDeps } from '../lib/types';

export const PROCESS_NOT_FOUND = 'Process not found';
const processNotFound = () => notFound(PROCESS_NOT_FOUND, 'process_not_found');
export const PROCESS_LIMIT = 'At most PROCESS_MAX_ACTIVE_PER_USER active processes per user: disable or delete one first';
const limitReached = (cap: number) =>
  conflict(PROCESS_LIMIT.replace('PROCESS_MAX_ACTIVE_PER_USER', String(cap)), 'process_limit_reached');

/** A process and, when this write generated one, its webhook secret (shown in that response only). */
export interface Written {
  row: ProcessRow;
  secret: string | null;
}

/** The caller's process, or 404 `Process not found` (another user's looks unknown). */
export async function ownProcess(db: Db, userId: string, id: string): Promise<ProcessRow> {
  return owned(await findOwnProcess(db, userId, id), userId, processNotFound);
}

/** Checks what the body refers to; a webhook action gets its signing secret here. */
export async function createProcess({ db, env }: DataDeps, userId: string, b: CreateProcessInput, now = Date.now()): Promise<Written> {
  if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
  await checkAction(env, db, userId, b.action);
  const secret = b.action.type === 'webhook' ? newWebhookSecret() : null;
  const values = {
    id: newId(),
    userId,
    workspaceId: b.workspace_id ?? null,
    name: b.name,
    description: b.description ?? null,
    triggerType: b.trigger_type,
    schedule: b.schedule ?? null,
    timezone: b.timezone,
    isActive: b.is_active,
    action: JSON.stringify(b.action),
    webhookSecret: secret,
    createdAt: now,
    updatedAt: now,
  } satisfies ProcessInsert;
  const cap = config(env).processMaxActivePerUser;
  const row = await insertProcessWithinCap(db, { ...values, nextRunAt: nextRunAt(values, now) }, cap);
  if (!row) throw limitReached(cap);
  return { row, secret };
}

export async function listUserProcesses(db: Db, userId: string, limit: number, cursor?: string) {
  return page(await listProcesses(db, userId, limit, cursor), limit);
}

/** PATCH: see patchChanges (src/processes/checks.ts) for what is recomputed and when. */
export async function patchProcess({ db, env }: DataDeps, userId: string, id: string, b: UpdateProcessInput): Promise<Written> {
  const p = await ownProcess(db, userId, id);
  if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
  if (b.action) await checkAction(env, db, userId, b.action);
  const { changes, secret } = patchChanges(p, b, Date.now());
  const cap = config(env).processMaxActivePerUser;
  const row = await updateProcess(db, p, changes, cap);
  if (row) return { row, secret };
  // Nothing matched: deleted while this request ran (404), or enabling it would pass the cap.
  await ownProcess(db, userId, id);
  throw limitReached(cap);
}

/** Its executions go with it (foreign key, ON DELETE CASCADE). */
export async function removeProcess(db: Db, userId: string, id: string): Promise<void> {
  await deleteProcess(db, (await ownProcess(db, userId, id)).id);
}

/** A run now, outside the schedule (also for an inactive or manual process). */
export async function runProcessNow({ db, env }: DataDeps, userId: string, id: string): Promise<ExecutionRow> {
  return executeNow(env, db, await ownProcess(db, userId, id));
}

/** Executions are paged by started_at, the time they were created. */
export async function listProcessExecutions(db: Db, userId: string, id: string, limit: number, cursor?: string) {
  const p = await ownProcess(db, userId, id);
  const rows = (await listExecutions(db, p.id, limit, cursor)).map((e) => ({ ...e, createdAt: e.startedAt }));
  return page(rows, limit);
}
