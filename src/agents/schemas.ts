import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { iso } from '../lib/time';
import { Tool } from '../packages/manifest';
import type { AgentRow } from './queries';

export const PROVIDERS = ['openai-compatible'] as const;
export const STORED_STATUSES = ['idle', 'offline'] as const;
/** `running` is never stored: it is reported while a run is live (see service.ts `reportedStatus`). */
export const STATUSES = [...STORED_STATUSES, 'running'] as const;
export type AgentStatus = (typeof STATUSES)[number];
export const CONFIG_MAX_BYTES = 16 * 1024;

const Model = z.object({
  provider: z.enum(PROVIDERS).optional().openapi({ description: 'Default `openai-compatible`' }),
  name: requiredString('model.name must be a non-empty string').max(200).optional().openapi({ description: 'Default: the `LLM_MODEL` var' }),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  max_tokens: z.number().int().positive().optional(),
});
export type ModelInput = z.infer<typeof Model>;

const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;
const Config = z
  .record(z.string(), z.unknown())
  .refine((c) => bytes(c) <= CONFIG_MAX_BYTES, { error: `config must be at most ${CONFIG_MAX_BYTES} bytes as JSON` })
  .openapi({ description: 'Free-form JSON object, at most 16 KiB serialized' });
const Tools = z
  .array(Tool)
  .max(100)
  .refine((tools) => new Set(tools.map((t) => t.name)).size === tools.length, { error: 'tools[].name must be unique' })
  .openapi({
    description:
      'What the agent can do. A built-in tool (`create_task`, `list_tasks`, `update_task`, `remember`, `recall`, `ask_agent`) or an MCP tool (`mcp:<server-slug>:<tool>`, one of your running MCP servers\' tools) is `{"name", "requires_approval"?}`: with `requires_approval` each call waits for your approval (`/approvals`). Any other name is a client tool, `{"name", "description"?, "parameters"?}` (JSON Schema): its calls pause the run in `requires_action` until you send their outputs.',
  });

const fields = {
  name: requiredString('Missing name parameter').max(200),
  description: z.string({ error: 'description must be a string' }).max(2000),
  type: requiredString('Missing type parameter').max(100).openapi({ description: 'Free text, such as `chat`' }),
  role: requiredString('Missing role parameter').max(200),
  system_prompt: requiredString('Missing system_prompt parameter').max(100_000),
  model: Model.optional(),
  tools: Tools.optional(),
  config: Config.optional(),
};
const example = {
  name: 'Support bot',
  description: 'Answers customer questions',
  type: 'chat',
  role: 'support',
  system_prompt: 'You are a helpful support agent.',
  model: { provider: 'openai-compatible', name: 'gpt-4o-mini', temperature: 0.2 },
  tools: [{ name: 'search', description: 'Search the help centre' }],
  config: { greeting: 'Hello!' },
};
/** POST and PUT: the whole agent (optional fields left out take their defaults). */
export const agentBody = z.object(fields).openapi('AgentInput', { example });
/** PATCH: any of the fields; those left out stay as they are. */
export const agentPatch = z.object(fields).partial().openapi('AgentPatch', { example: { role: 'triage', config: { greeting: 'Hi!' } } });
export type AgentBody = z.infer<typeof agentBody>;
export type AgentPatch = z.infer<typeof agentPatch>;

export const Agent = z
  .object({
    agent_id: z.string(),
    name: z.string(),
    description: z.string(),
    type: z.string(),
    role: z.string(),
    status: z.enum(STATUSES),
    system_prompt: z.string(),
    model: z.object({
      provider: z.enum(PROVIDERS),
      name: z.string(),
      temperature: z.number().optional(),
      top_p: z.number().optional(),
      max_tokens: z.number().int().optional(),
    }),
    tools: z.array(Tool),
    config: z.record(z.string(), z.unknown()),
    package: z.string().nullable().openapi({ description: 'The package it was installed from, else null' }),
    version: z.string().nullable(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Agent');

export const agentJson = (a: AgentRow, status: AgentStatus) => ({
  agent_id: a.id,
  name: a.name,
  description: a.description,
  type: a.type,
  role: a.role,
  status,
  system_prompt: a.systemPrompt,
  model: JSON.parse(a.model),
  tools: JSON.parse(a.tools),
  config: JSON.parse(a.config),
  package: a.packageName,
  version: a.version,
  created_at: iso(a.createdAt),
  updated_at: iso(a.updatedAt),
});

export const listQuery = z.object({
  status: z.enum(STATUSES, { error: 'status must be one of idle, offline, running' }).optional().openapi({ param: { name: 'status', in: 'query' } }),
  type: z.string().min(1).max(100).optional().openapi({ param: { name: 'type', in: 'query' }, example: 'chat' }),
  role: z.string().min(1).max(200).optional().openapi({ param: { name: 'role', in: 'query' } }),
});

export const MISSING_QUERY = "Missing param 'query'";
export const downloadQuery = z.object({
  query: z.string().min(1).openapi({ param: { name: 'query', in: 'query' }, example: 'research-assistant' }),
  version: z.string().optional().openapi({ param: { name: 'version', in: 'query' }, example: '1.2.3' }),
});
export const MISSING_AGENT_ID = 'Missing agent_id parameter';
export const agentIdBody = z
  .object({ agent_id: requiredString(MISSING_AGENT_ID).openapi({ description: 'An agent_id from GET /agents' }) })
  .openapi({ example: { agent_id: '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e' } });
export const agentParams = z.object({ agent_id: z.string().openapi({ param: { name: 'agent_id', in: 'path' } }) });
export const Msg = z.object({ msg: z.string() });
