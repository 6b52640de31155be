import { z } from '@hono/zod-openapi';
import type { Db } from '../db/client';
import { ApiError } from '../lib/errors';
import { memoryInput, recallInput } from '../memories/schemas';
import { recallMemories, rememberMemory } from '../memories/service';
import { createTaskBody, prioritySchema, statusSchema, taskJson, updateTaskBody } from '../tasks/schemas';
import { createTask, listTasks, patchTask } from '../tasks/service';
import type { BuiltinName } from './names';

export { type BuiltinName, isBuiltin } from './names';

/**
 * The built-in tools an agent may be given (its `tools` entry `{"name": "<one of these>"}`). Each
 * acts as the user who owns the chat, through the same service functions and input schemas as
 * the routes, so a model can never reach another user's data whatever it asks: the ids it names
 * are checked exactly as a request's would be. A refusal (a bad argument, an unknown id) is a
 * result the model reads, never an exception of ours.
 */

/** Who a tool acts for: the chat's owner, the agent, where the run happens. */
export interface ToolContext {
  db: Db;
  userId: string;
  agentId: string;
  workspaceId: string;
  /** Delegation (`ask_agent`): the run engine runs the sub-run (src/durable/chat-runs.ts). */
  askAgent(args: AskAgentArgs): Promise<ToolResult>;
}

export type ToolResult = { ok: true; output: unknown; task?: ReturnType<typeof taskJson> } | { ok: false; error: string };

interface Builtin {
  description: string;
  schema: z.ZodType;
  run(ctx: ToolContext, args: never): Promise<ToolResult>;
}

const listTasksArgs = z
  .object({
    status: statusSchema.optional(),
    priority: prioritySchema.optional(),
    workspace_id: z.string().max(64).optional(),
    tag: z.string().min(1).max(50).optional(),
    limit: z.number().int().min(1).max(50).default(20),
  })
  .strict();
const updateTaskArgs = updateTaskBody.extend({ task_id: z.string({ error: 'task_id must be a string' }).min(1).max(64) }).strict();

const askAgentArgs = z
  .object({
    agent_id: z.string({ error: 'agent_id must be a string' }).min(1).max(64),
    question: z.string({ error: 'question must be a string' }).min(1).max(8000),
  })
  .strict();
export type AskAgentArgs = z.output<typeof askAgentArgs>;

const builtins = {
  create_task: {
    description: "Create a task for the user (in this chat's workspace unless workspace_id says otherwise). Answers the task.",
    schema: createTaskBody.strict(),
    async run(ctx, args: z.output<typeof createTaskBody>) {
      const row = await createTask(ctx.db, ctx.userId, { ...args, workspace_id: args.workspace_id ?? ctx.workspaceId });
      const task = taskJson(row);
      return { ok: true, output: { task }, task };
    },
  },
  list_tasks: {
    description: "List the user's tasks, newest first, filtered by status, priority, workspace_id or tag.",
    schema: listTasksArgs,
    async run(ctx, args: z.output<typeof listTasksArgs>) {
      const { limit, ...filters } = args;
      const { items } = await listTasks(ctx.db, ctx.userId, filters, limit);
      return { ok: true, output: { tasks: items.map(taskJson) } };
    },
  },
  update_task: {
    description: "Change one of the user's tasks (title, description, status, priority, due_date, tags). Answers the task.",
    schema: updateTaskArgs,
    async run(ctx, args: z.output<typeof updateTaskArgs>) {
      const { task_id, ...patch } = args;
      const task = taskJson(await patchTask(ctx.db, ctx.userId, task_id, patch));
      return { ok: true, output: { task }, task };
    },
  },
  remember: {
    description: 'Remember something about the user for later conversations (content, and an optional category).',
    schema: memoryInput,
    async run(ctx, args: z.output<typeof memoryInput>) {
      return { ok: true, output: { memory: await rememberMemory(ctx.db, ctx.userId, ctx.agentId, args) } };
    },
  },
  recall: {
    description: 'Search what you remember about the user: query (a substring), category, limit.',
    schema: recallInput,
    async run(ctx, args: z.output<typeof recallInput>) {
      return { ok: true, output: { memories: await recallMemories(ctx.db, ctx.userId, ctx.agentId, args) } };
    },
  },
  ask_agent: {
    description:
      "Ask another agent of this chat's workspace (agent_id) a question; answers its reply. Use it to hand a sub-question to an agent that knows more.",
    schema: askAgentArgs,
    run: (ctx, args: AskAgentArgs) => ctx.askAgent(args),
  },
} satisfies Record<BuiltinName, Builtin>;

const schemas = new Map<string, Record<string, unknown>>();
/** The tool as the model sees it: its JSON Schema is generated from the same zod schema that checks its arguments. */
export function builtinDefinition(name: BuiltinName) {
  let parameters = schemas.get(name);
  if (!parameters) {
    parameters = z.toJSONSchema(builtins[name].schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    delete parameters.$schema;
    schemas.set(name, parameters);
  }
  return { name, description: builtins[name].description, parameters };
}

/**
 * Runs a built-in tool on the model's arguments (JSON text): checked by the tool's schema first
 * (a bad call is an error result), then the service function as the user.
 */
export async function runBuiltin(name: BuiltinName, argumentsText: string, ctx: ToolContext): Promise<ToolResult> {
  let json: unknown;
  try {
    json = argumentsText.trim() === '' ? {} : JSON.parse(argumentsText);
  } catch {
    return { ok: false, error: 'The arguments are not valid JSON' };
  }
  const parsed = builtins[name].schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, error: `Invalid arguments: ${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}` };
  }
  try {
    return await (builtins[name].run as (ctx: ToolContext, args: unknown) => Promise<ToolResult>)(ctx, parsed.data);
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, error: err.msg };
    throw err;
  }
}
