import { z } from '@hono/zod-openapi';
import { usd } from '../cost/pricing';
import { runs } from '../db/schema';
import { RUN_STATUSES } from '../durable/protocol';
import { pageQuery } from '../lib/pagination';
import { jsonOrText } from '../lib/json';
import { iso, isoOrNull } from '../lib/time';
import type { RunRow, ToolCallRow } from './queries';

/** The runs area's request and response schemas, and its one serializer. */

export const RUN_TRIGGERS = runs.trigger.enumValues;
export const STATUS_ERROR = `status must be one of ${RUN_STATUSES.join(', ')}`;

const q = (name: string, example?: string) => ({ param: { name, in: 'query' as const }, ...(example ? { example } : {}) });
const EXAMPLE_ID = '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e';

export const listRunsQuery = pageQuery.extend({
  agent_id: z.string().optional().openapi({ ...q('agent_id'), description: 'Only this agent\'s runs' }),
  chat_id: z.string().optional().openapi({ ...q('chat_id'), description: 'Only the runs in this chat' }),
  status: z.enum(RUN_STATUSES, { error: STATUS_ERROR }).optional().openapi({ ...q('status', 'completed'), description: '`queued` and `running` are live' }),
});

export const runParams = z.object({ run_id: z.string().openapi({ param: { name: 'run_id', in: 'path' }, example: EXAMPLE_ID }) });

const ms = (description: string) => z.number().int().nullable().openapi({ description });
const time = (description: string) => z.string().nullable().openapi({ description, format: 'date-time' });

const ToolCall = z.object({
  call_id: z.string(),
  step: z.number().int(),
  name: z.string(),
  kind: z.enum(['builtin', 'mcp', 'client']),
  arguments: z.unknown(),
  status: z.string().openapi({
    description:
      'While the run waits: `requires_action` (a client tool\'s output), `waiting_approval`, or `approved` (runs when the run resumes). Then `completed`, `failed`, or `refused` (a person rejected it, or its approval expired)',
  }),
  output: z.unknown().nullable(),
  error: z.string().nullable(),
  approval_id: z.string().nullable().openapi({ description: 'The approval that held it (a tool marked `requires_approval`)' }),
  created_at: z.string(),
  finished_at: z.string().nullable(),
});

/** A tool call as a conversation's history shows it beside the reply it led to. */
export const HistoryToolCall = ToolCall.pick({ call_id: true, name: true, kind: true, arguments: true, status: true, output: true, error: true });
export type HistoryToolCall = z.infer<typeof HistoryToolCall>;

const parsed = (text: string | null) => (text === null ? null : jsonOrText(text));

/** A tool call as GET /runs/{run_id} lists it. */
export const toolCallJson = (c: ToolCallRow) => ({
  call_id: c.callId,
  step: c.step,
  name: c.name,
  kind: c.kind,
  arguments: parsed(c.arguments),
  status: c.status,
  output: parsed(c.output),
  error: c.error,
  approval_id: c.approvalId,
  created_at: iso(c.createdAt),
  finished_at: isoOrNull(c.finishedAt),
});

const RUN_EXAMPLE = {
      run_id: '0198f3a2-9b10-7c3d-8e4f-5a6b7c8d9e0f',
      agent_id: EXAMPLE_ID,
      chat_id: '0198f3a2-8a00-7d1e-9f2a-3b4c5d6e7f80',
      workspace_id: '0198f3a2-6b00-7a1b-8c2d-3e4f5a6b7c8d',
      status: 'completed',
      trigger: 'message',
      parent_run_id: null,
      depth: 0,
      reply_to_seq: 12,
      reply_message_id: '0198f3a2-9c20-7e4f-8a5b-6c7d8e9f0a1b',
      model: { provider: 'openai-compatible', name: 'gpt-4o-mini' },
      usage: { input_tokens: 412, output_tokens: 96, estimated: false },
      cost: { usd: 0.000119, micro_usd: 119, unpriced: false, estimated: false },
      finish_reason: 'stop',
      error: null,
      created_at: '2027-03-01T09:30:00.000Z',
      started_at: '2027-03-01T09:30:00.020Z',
      first_token_at: '2027-03-01T09:30:00.480Z',
      finished_at: '2027-03-01T09:30:02.100Z',
      timings: { time_to_first_token_ms: 460, duration_ms: 2080 },
    };

export const Run = z
  .object({
    run_id: z.string(),
    agent_id: z.string(),
    chat_id: z.string(),
    workspace_id: z.string(),
    status: z.enum(RUN_STATUSES).openapi({ description: '`queued` and `running` are live; `requires_action` waits for your client tools\' outputs, `waiting_approval` for your approvals; `completed`, `failed` and `cancelled` are final' }),
    trigger: z.enum(RUN_TRIGGERS).openapi({ description: '`http`: POST /agents/{agent_id}/chat; `message`: a message in the chat; `code`: a process or workflow; `agent`: another agent\'s `ask_agent` call' }),
    parent_run_id: z.string().nullable().openapi({ description: 'A sub-run (`trigger` `agent`): the run whose `ask_agent` call it answers' }),
    depth: z.number().int().openapi({ description: 'How deep in delegation: 0 for a run of its own, 1 for its sub-runs, ... (at most AGENT_MAX_DEPTH)' }),
    reply_to_seq: z.number().int().nullable().openapi({ description: 'The `seq` of the chat message it answers' }),
    reply_message_id: z.string().nullable().openapi({ description: 'The agent\'s stored reply, once there is one' }),
    model: z.object({ provider: z.string(), name: z.string() }),
    usage: z
      .object({
        input_tokens: z.number().int(),
        output_tokens: z.number().int(),
        estimated: z.boolean().openapi({ description: 'The model reported no usage for a call, so its tokens were counted from the text (about 4 characters a token)' }),
      })
      .nullable()
      .openapi({ description: "The tokens of the run's model calls (the model's count, else estimated); null while none has ended" }),
    cost: z
      .object({
        usd: z.number().openapi({ description: 'What the run cost in USD (6 decimals at most)' }),
        micro_usd: z.number().int().openapi({ description: 'The same in millionths of a dollar, exactly as the usage ledger adds it up' }),
        unpriced: z.boolean().openapi({ description: 'Its model is missing from MODEL_PRICES: counted as costing 0' }),
        estimated: z.boolean().openapi({ description: 'Priced from estimated tokens (see `usage.estimated`)' }),
      })
      .nullable()
      .openapi({ description: 'What the run\'s model calls cost (MODEL_PRICES); null before any was priced. A call that failed with no text and no usage costs nothing' }),
    finish_reason: z.string().nullable().openapi({ description: '`stop`, `length`, `cancelled` or `error`; null while live' }),
    error: z
      .object({ code: z.string().openapi({ description: 'A code of docs/errors.md ("Agent runs and the model")' }), msg: z.string() })
      .nullable()
      .openapi({ description: 'Why a `failed` run failed; null otherwise' }),
    created_at: z.string().openapi({ format: 'date-time' }),
    started_at: time('When the model call began'),
    first_token_at: time('When the first token arrived'),
    finished_at: time('When it reached its final state'),
    timings: z.object({
      time_to_first_token_ms: ms('first_token_at - started_at'),
      duration_ms: ms('finished_at - started_at'),
    }),
  })
  .openapi('Run', { example: RUN_EXAMPLE });

const between = (from: number | null, to: number | null) => (from === null || to === null ? null : to - from);

/** The API's view of a run row: ISO times, nulls where unknown. */
export const runJson = (r: RunRow): z.infer<typeof Run> => ({
  run_id: r.id,
  agent_id: r.agentId,
  chat_id: r.chatId,
  workspace_id: r.workspaceId,
  status: r.status,
  trigger: r.trigger,
  parent_run_id: r.parentRunId,
  depth: r.depth,
  reply_to_seq: r.replyToSeq,
  reply_message_id: r.replyMessageId,
  model: { provider: r.provider, name: r.model },
  usage: r.inputTokens === null && r.outputTokens === null ? null : { input_tokens: r.inputTokens ?? 0, output_tokens: r.outputTokens ?? 0, estimated: r.estimated },
  cost: r.costMicros === null ? null : { usd: usd(r.costMicros), micro_usd: r.costMicros, unpriced: r.unpriced, estimated: r.estimated },
  finish_reason: r.finishReason,
  error: r.errorCode === null ? null : { code: r.errorCode, msg: r.errorMsg ?? '' },
  created_at: iso(r.createdAt),
  started_at: isoOrNull(r.startedAt),
  first_token_at: isoOrNull(r.firstTokenAt),
  finished_at: isoOrNull(r.finishedAt),
  timings: { time_to_first_token_ms: between(r.startedAt, r.firstTokenAt), duration_ms: between(r.startedAt, r.finishedAt) },
});

/** GET /runs/{run_id}: the run, its tool calls and its sub-runs. */
export const RunWithCalls = z.object({
  run: Run.extend({
    tool_calls: z.array(ToolCall),
    sub_runs: z.array(Run).openapi({ description: 'The runs its `ask_agent` calls started (each with `parent_run_id` this run), oldest first' }),
  }).openapi({
    example: {
      ...RUN_EXAMPLE,
      tool_calls: [
        {
          call_id: 'call_8f2e', step: 1, name: 'create_task', kind: 'builtin', arguments: { title: 'Review the docs' }, status: 'completed',
          output: { task: { task_id: '0198f3a4-3c4d-7e5f-8a6b-7c8d9e0f1a2b', title: 'Review the docs' } }, error: null,
          approval_id: null, created_at: '2027-03-01T09:30:00.900Z', finished_at: '2027-03-01T09:30:00.950Z',
        },
      ],
      sub_runs: [],
    },
  }),
});
