import type { ProcessInsert, ProcessRow } from './queries';
import { config } from '../lib/config';
import { badRequest } from '../lib/errors';
import type { Db } from '../db/client';
import { ownAgent } from '../agents/service';
import { ownChat } from '../chats/service';
import { ownWorkspace } from '../workspaces/service';
import type { Action } from './actions';
import { nextRun } from './schedule';
import type { UpdateProcessInput } from './schemas';
import { outboundUrlError } from '../lib/outbound-url';
import { newWebhookSecret } from './webhook';

/** Checks what an action refers to; webhook URLs are checked again on every call. */
export async function checkAction(env: Env, db: Db, userId: string, a: Action) {
  if (a.type === 'create_task') {
    if (typeof a.task.workspace_id === 'string') await ownWorkspace(db, userId, a.task.workspace_id);
    if (typeof a.task.agent_id === 'string') await ownAgent(db, userId, a.task.agent_id);
  } else if (a.type === 'post_message') {
    await ownChat(db, userId, a.chat_id);
    const max = config(env).messageMaxBytes;
    if (new TextEncoder().encode(a.content).byteLength > max) throw badRequest(`content must be at most ${max} bytes`);
  } else {
    const refused = outboundUrlError(a.url, config(env).outboundAllowLoopback);
    if (refused) throw badRequest(refused, 'invalid_webhook_url');
  }
}

/** Only an active time-based process has a next run; it is always computed from now. */
export function nextRunAt(p: Pick<ProcessRow, 'triggerType' | 'isActive' | 'schedule' | 'timezone'>, now: number): number | null {
  return p.triggerType === 'time_based' && p.isActive && p.schedule ? nextRun(p.schedule, p.timezone, now) : null;
}

const SCHEDULING = ['trigger_type', 'schedule', 'timezone', 'is_active'] as const;

/**
 * The row changes a PATCH asks for. next_run_at is written only when a scheduling field is in
 * the body (recomputed from now), so a rename never clobbers a claim's write. A webhook keeps its
 * secret when only its URL changes; becoming a webhook generates one, shown in that response only.
 */
export function patchChanges(p: ProcessRow, b: UpdateProcessInput, now: number) {
  const changes: Partial<ProcessInsert> = { updatedAt: now };
  if (b.name !== undefined) changes.name = b.name;
  if (b.description !== undefined) changes.description = b.description;
  if (b.trigger_type !== undefined) changes.triggerType = b.trigger_type;
  if (b.schedule !== undefined) changes.schedule = b.schedule;
  if (b.timezone !== undefined) changes.timezone = b.timezone;
  if (b.is_active !== undefined) changes.isActive = b.is_active;
  if (b.workspace_id !== undefined) changes.workspaceId = b.workspace_id;
  let secret: string | null = null;
  if (b.action) {
    changes.action = JSON.stringify(b.action);
    if (b.action.type !== 'webhook') changes.webhookSecret = null;
    else if (!p.webhookSecret) changes.webhookSecret = secret = newWebhookSecret();
  }
  const merged = { ...p, ...changes } as ProcessRow;
  if (merged.triggerType === 'time_based' && !merged.schedule) throw badRequest('Missing schedule parameter', 'validation_error');
  if (SCHEDULING.some((k) => b[k] !== undefined)) changes.nextRunAt = nextRunAt(merged, now);
  return { changes, secret };
}
