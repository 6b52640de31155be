import {
  deleteProcess,
  findOwnProcess,
  insertProcess,
  listExecutions,
  listProcesses,
  updateProcess,
  type ExecutionRow,
  type ProcessInsert,
  type ProcessRow,
} from './queries';
import type { Db } from '../db/client';
import { notFound } from '../lib/errors';
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
  return { row: await insertProcess(db, { ...values, nextRunAt: nextRunAt(values, now) }), secret };
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
  // Deleted while this request ran: the update matched nothing.
  return { row: owned(await updateProcess(db, p.id, changes), userId, processNotFound), secret };
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
