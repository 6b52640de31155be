import { z } from '@hono/zod-openapi';
import { pageQuery } from '../lib/pagination';
import { requiredString } from '../lib/router';
import { iso, isoOrNull } from '../lib/time';
import type { TaskRow } from './queries';
import { INITIAL_STATUSES, TASK_PRIORITIES, TASK_STATUSES, type TaskPriority, type TaskStatus } from './status';

export const TITLE_MAX = 200;
export const DESCRIPTION_MAX = 10_000;
export const TAGS_MAX = 20;
export const TAG_MAX = 50;
export const DATA_MAX_BYTES = 16 * 1024;
const ID_MAX = 100;

const list = (values: readonly string[]) => values.join(', ');
const byteLength = (value: unknown) => new TextEncoder().encode(JSON.stringify(value)).length;

const title = (missing: string) =>
  requiredString(missing).max(TITLE_MAX, { error: `title must be at most ${TITLE_MAX} characters` });
const description = z
  .string({ error: 'description must be a string' })
  .max(DESCRIPTION_MAX, { error: `description must be at most ${DESCRIPTION_MAX} characters` })
  .nullable();

export const statusSchema = z.enum(TASK_STATUSES, { error: `status must be one of ${list(TASK_STATUSES)}` });
export const prioritySchema = z.enum(TASK_PRIORITIES, { error: `priority must be one of ${list(TASK_PRIORITIES)}` });

/** An ISO 8601 date (midnight UTC) or date-time with an offset, as epoch milliseconds. */
export const isoInstant = (field: string) =>
  z
    .union([z.iso.datetime({ offset: true }), z.iso.date()], {
      error: `${field} must be an ISO 8601 date or date-time (e.g. 2025-01-31T17:00:00Z)`,
    })
    .transform((s) => Date.parse(s))
    .openapi({ type: 'string', format: 'date-time', example: '2027-03-31T17:00:00Z' });

/** Trimmed, deduplicated (first spelling wins), at most TAGS_MAX of at most TAG_MAX characters. */
const tags = z
  .array(
    z
      .string({ error: 'tags must be an array of strings' })
      .trim()
      .min(1, { error: 'tags must not contain empty strings' })
      .max(TAG_MAX, { error: `each tag must be at most ${TAG_MAX} characters` }),
    { error: 'tags must be an array of strings' },
  )
  .transform((t) => [...new Set(t)])
  .refine((t) => t.length <= TAGS_MAX, { error: `at most ${TAGS_MAX} tags` });

/** Free-form JSON; null means none. Capped by its serialized size so rows stay small. */
const data = z
  .unknown()
  .refine((v) => v === undefined || byteLength(v) <= DATA_MAX_BYTES, {
    error: `data must be at most ${DATA_MAX_BYTES} bytes when serialized as JSON`,
  })
  .openapi({ description: `Any JSON value, at most ${DATA_MAX_BYTES} bytes serialized` });

const refId = (field: string) =>
  z.string({ error: `${field} must be a string` }).max(ID_MAX, { error: `${field} is too long` });

/** POST /tasks and a process's create_task action. Unknown fields are refused (src/lib/unknown-fields.ts). */
export const createTaskBody = z
  .object({
    title: title('Missing title parameter'),
    description: description.optional(),
    status: z
      .enum(INITIAL_STATUSES, { error: `A task is created ${INITIAL_STATUSES.join(', ')}` })
      .default('not_started'),
    priority: prioritySchema.default('medium'),
    due_date: isoInstant('due_date').nullable().optional().openapi({ type: ['string', 'null'] }),
    tags: tags.default([]),
    agent_id: refId('agent_id').nullable().optional(),
    workspace_id: refId('workspace_id').nullable().optional(),
    data: data.optional(),
  })
  .openapi('CreateTask', {
    example: {
      title: 'Draft the Q3 report',
      description: 'Two pages from the research chats.',
      status: 'not_started',
      priority: 'high',
      due_date: '2027-03-31T17:00:00Z',
      tags: ['report', 'q3'],
      data: { source: 'weekly planning' },
    },
  });
export type CreateTaskInput = z.output<typeof createTaskBody>;

/** PATCH: every field optional; null clears the optional ones. */
export const updateTaskBody = z
  .object({
    title: title('title must not be empty').optional(),
    description: description.optional(),
    status: statusSchema.optional(),
    priority: prioritySchema.optional(),
    due_date: isoInstant('due_date').nullable().optional().openapi({ type: ['string', 'null'] }),
    tags: tags.optional(),
    agent_id: refId('agent_id').nullable().optional(),
    workspace_id: refId('workspace_id').nullable().optional(),
    data: data.optional(),
  })
  .openapi('UpdateTask', { example: { status: 'in_progress', priority: 'urgent', tags: ['report', 'q3', 'review'] } });
export type UpdateTaskInput = z.output<typeof updateTaskBody>;

const q = (name: string) => ({ param: { name, in: 'query' as const } });

export const listTasksQuery = pageQuery.extend({
  status: statusSchema.optional().openapi(q('status')),
  priority: prioritySchema.optional().openapi(q('priority')),
  agent_id: z.string().optional().openapi(q('agent_id')),
  workspace_id: z.string().optional().openapi(q('workspace_id')),
  tag: z.string().trim().min(1, { error: 'tag must not be empty' }).optional().openapi(q('tag')),
  due_before: isoInstant('due_before').optional().openapi({ ...q('due_before'), description: 'due_date < this' }),
  due_after: isoInstant('due_after').optional().openapi({ ...q('due_after'), description: 'due_date >= this' }),
});
export type TaskFilters = Omit<z.output<typeof listTasksQuery>, 'limit' | 'cursor'>;

export const Task = z
  .object({
    task_id: z.string(),
    title: z.string(),
    description: z.string().nullable(),
    status: statusSchema,
    priority: prioritySchema,
    due_date: z.string().nullable(),
    tags: z.array(z.string()),
    agent_id: z.string().nullable(),
    workspace_id: z.string().nullable(),
    data: z.unknown().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi('Task');

const countsOf = <K extends string>(keys: readonly K[]) =>
  z.object(Object.fromEntries(keys.map((k) => [k, z.number().int()])) as Record<K, z.ZodNumber>);

export const TaskStats = z.object({
  total: z.number().int(),
  by_status: countsOf(TASK_STATUSES),
  by_priority: countsOf(TASK_PRIORITIES),
});

/** The API's view of a task row. */
export const taskJson = (row: TaskRow) => ({
  task_id: row.id,
  title: row.title,
  description: row.description,
  status: row.status as TaskStatus,
  priority: row.priority as TaskPriority,
  due_date: isoOrNull(row.dueDate),
  tags: JSON.parse(row.tags) as string[],
  agent_id: row.agentId,
  workspace_id: row.workspaceId,
  data: row.data === null ? null : (JSON.parse(row.data) as unknown),
  created_at: iso(row.createdAt),
  updated_at: iso(row.updatedAt),
  completed_at: isoOrNull(row.completedAt),
});
