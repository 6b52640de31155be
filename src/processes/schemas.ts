import { z } from '@hono/zod-openapi';
import type { ExecutionRow, ProcessRow } from './queries';
import { requiredString } from '../lib/router';
import { iso, isoOrNull } from '../lib/time';
import { actionSchema, type Action } from './actions';
import { isTimezone, scheduleError } from './schedule';

export const NAME_MAX = 200;
export const DESCRIPTION_MAX = 2000;
export const TRIGGER_TYPES = ['manual', 'time_based'] as const;

const trigger = z.enum(TRIGGER_TYPES, { error: 'trigger_type must be one of manual, time_based' });
const schedule = z
  .string({ error: 'schedule must be a string' })
  .superRefine((v, ctx) => {
    const err = scheduleError(v);
    if (err) ctx.addIssue({ code: 'custom', message: err });
  })
  .transform((v) => v.trim().split(/\s+/).join(' '))
  .openapi({ type: 'string', example: '0 9 * * 1-5', description: 'A 5-field cron expression' });
const timezone = z
  .string({ error: 'Invalid timezone' })
  .refine(isTimezone, { error: 'Invalid timezone' })
  // Stored in its canonical spelling (europe/berlin -> Europe/Berlin).
  .transform((tz) => new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone)
  .openapi({ example: 'Europe/Berlin', description: 'IANA time zone the schedule is read in' });
const fields = {
  name: requiredString('Missing name parameter').max(NAME_MAX, { error: `name must be at most ${NAME_MAX} characters` }),
  description: z
    .string({ error: 'description must be a string' })
    .max(DESCRIPTION_MAX, { error: `description must be at most ${DESCRIPTION_MAX} characters` })
    .nullable(),
  is_active: z.boolean({ error: 'is_active must be a boolean' }),
  workspace_id: z.string({ error: 'workspace_id must be a string' }).nullable(),
};

export const createProcessBody = z
  .object({
    ...fields,
    description: fields.description.optional(),
    trigger_type: z.enum(TRIGGER_TYPES, {
      error: (i) => (i.input === undefined ? 'Missing trigger_type parameter' : 'trigger_type must be one of manual, time_based'),
    }),
    schedule: schedule.nullable().optional().openapi({ type: ['string', 'null'] }),
    timezone: timezone.default('UTC'),
    is_active: fields.is_active.default(true),
    workspace_id: fields.workspace_id.optional(),
    action: actionSchema,
  })
  .superRefine((b, ctx) => {
    if (b.trigger_type === 'time_based' && !b.schedule) ctx.addIssue({ code: 'custom', message: 'Missing schedule parameter', path: ['schedule'] });
  })
  .openapi('CreateProcess', {
    example: {
      name: 'Stand-up notes',
      description: 'Every weekday at 9:00 in Berlin, a task to write the stand-up notes.',
      trigger_type: 'time_based',
      schedule: '0 9 * * 1-5',
      timezone: 'Europe/Berlin',
      is_active: true,
      action: { type: 'create_task', task: { title: 'Write the stand-up notes', priority: 'high', tags: ['standup'] } },
    },
  });
export type CreateProcessInput = z.output<typeof createProcessBody>;

/** PATCH: every field optional; changing schedule, timezone, trigger or is_active recomputes next_run_at. */
export const updateProcessBody = z
  .object({
    name: fields.name.optional(),
    description: fields.description.optional(),
    trigger_type: trigger.optional(),
    schedule: schedule.nullable().optional().openapi({ type: ['string', 'null'] }),
    timezone: timezone.optional(),
    is_active: fields.is_active.optional(),
    workspace_id: fields.workspace_id.optional(),
    action: actionSchema.optional(),
  })
  .openapi('UpdateProcess', { example: { trigger_type: 'time_based', schedule: '30 8 * * 1-5', timezone: 'Europe/London' } });
export type UpdateProcessInput = z.output<typeof updateProcessBody>;


export const Process = z
  .object({
    process_id: z.string(),
    name: z.string(),
    description: z.string().nullable(),
    trigger_type: trigger,
    schedule: z.string().nullable(),
    timezone: z.string(),
    is_active: z.boolean(),
    action: z.record(z.string(), z.unknown()).openapi({ description: 'The action, without the webhook secret' }),
    workspace_id: z.string().nullable(),
    last_execution: z.string().nullable(),
    next_run_at: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    webhook_secret: z.string().optional().openapi({ description: 'Only in the response that generated it' }),
  })
  .openapi('Process');

export const Execution = z
  .object({
    execution_id: z.string(),
    process_id: z.string(),
    status: z.enum(['running', 'success', 'failed']),
    message: z.string().nullable(),
    due_at: z.string().nullable().openapi({ description: 'The scheduled time this run was for; null for a manual run' }),
    started_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi('Execution');

export const processJson = (p: ProcessRow) => ({
  process_id: p.id,
  name: p.name,
  description: p.description,
  trigger_type: p.triggerType as (typeof TRIGGER_TYPES)[number],
  schedule: p.schedule,
  timezone: p.timezone,
  is_active: p.isActive,
  action: JSON.parse(p.action) as Action,
  workspace_id: p.workspaceId,
  last_execution: isoOrNull(p.lastExecutionAt),
  next_run_at: isoOrNull(p.nextRunAt),
  created_at: iso(p.createdAt),
  updated_at: iso(p.updatedAt),
});

/** A written process; `secret` only when that write generated one (the one time it is shown). */
export const processWithSecret = (p: ProcessRow, secret: string | null) => ({
  ...processJson(p),
  ...(secret ? { webhook_secret: secret } : {}),
});

export const executionJson = (e: ExecutionRow) => ({
  execution_id: e.id,
  process_id: e.processId,
  status: e.status as 'running' | 'success' | 'failed',
  message: e.message,
  due_at: isoOrNull(e.dueAt),
  started_at: iso(e.startedAt),
  completed_at: isoOrNull(e.completedAt),
});
