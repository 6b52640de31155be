import { z } from '@hono/zod-openapi';
import { ApiError } from '../lib/errors';
import { pageQuery } from '../lib/pagination';
import { iso } from '../lib/time';
import type { MemoryRow } from './queries';

/**
 * The memories area's schemas. The same ones validate a route's body and a built-in tool's
 * arguments (`remember`, `recall`: src/memories/service.ts), so an agent can store nothing a
 * client could not.
 */

export const CONTENT_MAX = 4000;
export const CATEGORY_MAX = 64;
export const DEFAULT_CATEGORY = 'general';
export const RECALL_DEFAULT = 10;
export const RECALL_MAX = 50;
export const QUERY_MAX = 200;

export const MISSING_CONTENT = 'Missing content parameter';
export const CONTENT_TOO_LONG = `content must be at most ${CONTENT_MAX} characters`;
export const CATEGORY_ERROR = `category must be a non-empty string of at most ${CATEGORY_MAX} characters`;

const content = z
  .string({ error: (iss) => (iss.input === undefined ? MISSING_CONTENT : 'content must be a string') })
  .trim()
  .min(1, { error: MISSING_CONTENT })
  .max(CONTENT_MAX, { error: CONTENT_TOO_LONG })
  .openapi({ description: `What to remember: 1 to ${CONTENT_MAX} characters (trimmed)`, example: 'Prefers answers in French' });

const category = z
  .string({ error: CATEGORY_ERROR })
  .trim()
  .min(1, { error: CATEGORY_ERROR })
  .max(CATEGORY_MAX, { error: CATEGORY_ERROR })
  .openapi({ description: `A label of your choosing, 1 to ${CATEGORY_MAX} characters (trimmed)`, example: 'preferences' });

/** POST /agents/{agent_id}/memories and the `remember` tool. */
export const memoryInput = z
  .object({ content, category: category.default(DEFAULT_CATEGORY).openapi({ description: `Default \`${DEFAULT_CATEGORY}\`` }) })
  .openapi('MemoryInput', { example: { content: 'Prefers answers in French', category: 'preferences' } });
export type MemoryInput = z.input<typeof memoryInput>;

/** PUT /agents/memories/{memory_id}: content and/or category; those left out stay (`{}` changes only updated_at, as PATCH routes take `{}`). */
export const memoryPatch = z
  .object({ content: content.optional(), category: category.optional() })
  .openapi('MemoryPatch', { example: { content: 'Prefers answers in French, formal register' } });
export type MemoryPatch = z.input<typeof memoryPatch>;

const LIMIT_ERROR = `limit must be an integer between 1 and ${RECALL_MAX}`;
/** The `recall` tool: a case-insensitive substring of the content, a category, how many (newest first). */
export const recallInput = z.object({
  query: z
    .string({ error: `query must be a string of at most ${QUERY_MAX} characters` })
    .trim()
    .max(QUERY_MAX, { error: `query must be a string of at most ${QUERY_MAX} characters` })
    .optional()
    .openapi({ description: 'Case-insensitive substring of the content; empty matches all' }),
  category: category.optional(),
  limit: z
    .number({ error: LIMIT_ERROR })
    .int({ error: LIMIT_ERROR })
    .min(1, { error: LIMIT_ERROR })
    .max(RECALL_MAX, { error: LIMIT_ERROR })
    .default(RECALL_DEFAULT),
});
export type RecallInput = z.input<typeof recallInput>;

/** GET /agents/{agent_id}/memories. */
export const listMemoriesQuery = pageQuery.extend({
  category: category.optional().openapi({ param: { name: 'category', in: 'query' }, example: 'preferences' }),
});

export const agentParams = z.object({ agent_id: z.string().openapi({ param: { name: 'agent_id', in: 'path' } }) });
export const memoryParams = z.object({ memory_id: z.string().openapi({ param: { name: 'memory_id', in: 'path' } }) });

/**
 * Validates a tool's (or any non-route caller's) input with a route's schema: the same 400
 * `validation_error`, with every issue, that the route would answer.
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  throw new ApiError(400, 'validation_error', issues[0]?.message ?? 'Invalid input', { issues });
}

export const Memory = z
  .object({
    memory_id: z.string(),
    agent_id: z.string(),
    content: z.string(),
    category: z.string(),
    created_at: z.string().openapi({ format: 'date-time' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('Memory', {
    example: {
      memory_id: '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e',
      agent_id: '0198f3a1-0b2c-7d3e-8f4a-5b6c7d8e9f0a',
      content: 'Prefers answers in French',
      category: 'preferences',
      created_at: '2027-03-01T09:00:00.000Z',
      updated_at: '2027-03-01T09:00:00.000Z',
    },
  });
export type MemoryJson = z.infer<typeof Memory>;

export const memoryJson = (m: MemoryRow): MemoryJson => ({
  memory_id: m.id,
  agent_id: m.agentId,
  content: m.content,
  category: m.category,
  created_at: iso(m.createdAt),
  updated_at: iso(m.updatedAt),
});

export const MemoryStats = z
  .object({
    total: z.number().int().openapi({ description: 'How many memories the agent keeps of you' }),
    by_category: z.record(z.string(), z.number().int()).openapi({ description: 'Memories per category' }),
    bytes: z.number().int().openapi({ description: 'Their content\'s total size in UTF-8 bytes' }),
    oldest: z.string().nullable().openapi({ format: 'date-time', description: 'created_at of the oldest; null: none' }),
    newest: z.string().nullable().openapi({ format: 'date-time', description: 'created_at of the newest; null: none' }),
  })
  .openapi('MemoryStats', {
    example: { total: 3, by_category: { general: 1, preferences: 2 }, bytes: 96, oldest: '2027-03-01T09:00:00.000Z', newest: '2027-03-04T17:30:00.000Z' },
  });
