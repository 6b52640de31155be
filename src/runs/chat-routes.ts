import { z } from '@hono/zod-openapi';
import { agentParams } from '../agents/schemas';
import { AGENT_NOT_FOUND } from '../agents/service';
import { ChatMessage } from '../chats/schemas';
import { HistoryToolCall } from './schemas';
import { CHAT_NOT_FOUND } from '../chats/service';
import { createRouter, defineRoute, depsOf, errorResponse, jsonRequest, okJson, requiredString } from '../lib/router';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { agentChatHistory, answerJson, awaitAnswer, cancelRun, runEvents, sseResponse, startAgentChat, submitToolOutputs } from './agent-chat';
import { runParams } from './schemas';
import { RUN_NOT_FOUND } from './service';

const chatBody = z
  .object({
    message: requiredString('Missing message parameter').openapi({ description: 'What the user says (at most MESSAGE_MAX_BYTES of UTF-8)' }),
    session_id: z.string({ error: 'session_id must be a string' }).min(1).max(64).optional().openapi({ description: 'A chat of yours to continue (its `chat_id`)' }),
    workspace_id: z
      .string({ error: 'workspace_id must be a string' })
      .min(1)
      .max(64)
      .optional()
      .openapi({ description: 'Without `session_id`: the workspace for the new chat (default: your "Agent chats" workspace)' }),
    stream: z.boolean({ error: 'stream must be a boolean' }).optional().openapi({ description: 'Answer with Server-Sent Events (default false)' }),
    client_id: z
      .string({ error: 'client_id must be a string of 1 to 128 characters' })
      .min(1)
      .max(128)
      .optional()
      .openapi({ description: 'Your id for this message: a retry with the same id answers the first attempt and stores nothing twice' }),
  })
  .openapi('AgentChatInput', { example: { message: 'What can you do?', stream: false } });

const Metadata = z.object({
  model: z.string(),
  tokens_used: z.number().int(),
  usage: z
    .object({ input_tokens: z.number().int(), output_tokens: z.number().int(), estimated: z.boolean() })
    .nullable()
    .openapi({ description: '`estimated`: the model reported no usage, so the tokens were counted from the text' }),
  finish_reason: z.enum(['stop', 'length', 'cancelled', 'error']).nullable(),
  cost: z.number().openapi({ description: "What the run cost in USD (MODEL_PRICES; 0 for an unpriced model); the run's `cost` has the details" }),
});
const Answer = z
  .object({
    id: z.string().nullable().openapi({ description: "The agent's reply message (null when the reply was empty)" }),
    message: z.string(),
    session_id: z.string().openapi({ description: 'The chat (`chat_id`) the conversation lives in' }),
    timestamp: z.string().nullable(),
    metadata: Metadata,
    run_id: z.string(),
    status: z.enum(['completed', 'cancelled', 'requires_action', 'waiting_approval']).openapi({
      description:
        "`requires_action`: the run waits for your client tools' outputs (`required_action`); answer them with POST /runs/{run_id}/tool-outputs. `waiting_approval`: it waits for your decisions on `pending_approvals` (POST /approvals/{approval_id}/approve or /reject), then goes on by itself (follow it with GET /runs/{run_id}/events)",
    }),
    required_action: z
      .object({ tool_calls: z.array(z.object({ call_id: z.string(), name: z.string(), arguments: z.unknown() })) })
      .nullable(),
    pending_approvals: z
      .array(z.object({ approval_id: z.string(), call_id: z.string(), name: z.string(), arguments: z.unknown() }))
      .nullable()
      .openapi({ description: '`waiting_approval`: the tool calls held for your approval (tools marked `requires_approval`)' }),
    tasks: z.array(z.record(z.string(), z.unknown())).openapi({ description: 'The tasks this turn created or changed through its tools (Behflow), each as GET /tasks/{task_id} shows it' }),
  })
  .openapi('AgentChatAnswer');

const sse = (description: string) => ({ description, content: { 'text/event-stream': { schema: z.string() } } });
const EVENTS =
  'Each event is `id: <n>` and `data: <JSON>`: `{"type":"start","session_id","run_id","agent_id"}` (id 0), `{"type":"token","content"}` (id: the reply\'s length so far), tool rounds as `run.tool_call`, `run.tool_result` and `run.approval_required` (as the socket frames), then `{"type":"end","run_id","status","message_id","metadata"}` (`metadata` as in the JSON answer, `cost` included) or `{"type":"error","run_id","code","msg"}`, or, when the run waits, `{"type":"requires_action","run_id","tool_calls"}` or `{"type":"waiting_approval","run_id","approvals"}`; a comment line (`: keep-alive`) after SSE_KEEPALIVE_MS without an event.';

export const agentChatRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/agents/{agent_id}/chat',
      tags: ['Runs'],
      summary: 'Talk to an agent (JSON, or streamed over SSE)',
      operationId: 'chatWithAgent',
      description:
        `Stores \`message\` in a chat as yours and runs the agent on it (its system prompt and the chat's latest messages). \`session_id\` continues a chat of yours (the agent must be in its workspace: 409 \`agent_not_in_workspace\`); without it a new chat is made in \`workspace_id\` or your "Agent chats" workspace, and the agent joins it. Both turns are ordinary chat messages: every socket of the chat sees them. Without \`stream\` the answer comes when the run ends; a failed run is its error (502 \`model_error\`, 504 \`run_timeout\`, ...) with \`run_id\`, and your message stays stored. With \`"stream": true\` the answer is Server-Sent Events. ${EVENTS} The run goes on if you disconnect: re-attach with GET /runs/{run_id}/events. One run per agent per chat: 409 \`run_in_progress\`. No model configured: 503 \`model_unavailable\`. Before anything is stored or the model is asked, the run is admitted: an agent whose model is not on the operator's allow-list (LLM_MODELS) is 400 \`model_not_allowed\`, and a month (UTC) whose spend has reached your own budget or the operator's USER_MONTHLY_LIMIT_USD is 402 \`budget_exceeded\`, whose \`msg\` says whose limit it is. \`metadata.cost\` is what the run cost in USD.`,
      request: { params: agentParams, body: jsonRequest(chatBody) },
      responses: {
        200: { description: 'The agent\'s answer (JSON), or its events (`"stream": true`)', content: { 'application/json': { schema: Answer }, 'text/event-stream': { schema: z.string() } } },
        400: errorResponse(
          'Missing JSON in request',
          'Missing message parameter',
          'Content must be non-empty and at most MESSAGE_MAX_BYTES bytes',
          `The agent's model "<model>" is not one the operator allows (LLM_MODELS)`,
        ),
        402: errorResponse('Your monthly budget of $5.00 is spent ($5.01 this month)', "The operator's monthly limit of $10.00 per user is spent ($10.02 this month)"),
        404: errorResponse(AGENT_NOT_FOUND, CHAT_NOT_FOUND, WORKSPACE_NOT_FOUND),
        409: errorResponse("The agent is not in this chat's workspace", 'The agent is already answering in this chat', 'The agent is stopped; start it first'),
        502: errorResponse('The model endpoint failed'),
        503: errorResponse('No model endpoint is configured: set LLM_BASE_URL'),
        504: errorResponse('The run took longer than LLM_MAX_RUN_MS'),
      },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const deps = depsOf(c);
      const run = await startAgentChat(deps, c.get('user'), c.req.valid('param').agent_id, {
        message: b.message,
        sessionId: b.session_id,
        workspaceId: b.workspace_id,
        stream: b.stream === true,
        clientId: b.client_id,
      });
      if (run.stream) return sseResponse(run.stream);
      return c.json(answerJson(await awaitAnswer(deps.env, run)), 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}/chat/history',
      tags: ['Runs'],
      summary: 'The messages of a conversation with an agent, newest first',
      operationId: 'agentChatHistory',
      description:
        'The messages of the chat `session_id` (yours; every role, every sender), newest first; an agent reply carries the tool calls (and results) of the run that wrote it (`run_id`, `tool_calls`); `limit` at a time (1-100, default 50); `before` is an exclusive `seq` (pass `next_before` for the next page, null at the oldest). 404 `Agent not found` or `Chat not found`.',
      request: {
        params: agentParams,
        query: z.object({
          session_id: requiredString('Missing session_id parameter').openapi({ param: { name: 'session_id', in: 'query' }, example: 'chat-id' }),
          limit: z.coerce
            .number({ error: 'limit must be an integer between 1 and 100' })
            .int({ error: 'limit must be an integer between 1 and 100' })
            .min(1, { error: 'limit must be an integer between 1 and 100' })
            .max(100, { error: 'limit must be an integer between 1 and 100' })
            .default(50),
          before: z.coerce
            .number({ error: 'before must be a positive integer' })
            .int({ error: 'before must be a positive integer' })
            .min(1, { error: 'before must be a positive integer' })
            .optional(),
        }),
      },
      responses: {
        200: okJson(
          z.object({
            messages: z.array(
              ChatMessage.extend({
                run_id: z.string().nullable().openapi({ description: "An agent reply with tool calls: the run that wrote it" }),
                tool_calls: z
                  .array(HistoryToolCall)
                  .openapi({ description: 'The tool calls of the run that wrote this reply, in order, with their results (empty for other messages)' }),
              }),
            ),
            next_before: z.number().int().nullable(),
          }),
        ),
        400: errorResponse('Missing session_id parameter', 'limit must be an integer between 1 and 100', 'before must be a positive integer'),
        404: errorResponse(AGENT_NOT_FOUND, CHAT_NOT_FOUND),
      },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const h = await agentChatHistory(depsOf(c), c.get('user').id, c.req.valid('param').agent_id, { sessionId: q.session_id, limit: q.limit, before: q.before });
      return c.json(h, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/runs/{run_id}/tool-outputs',
      tags: ['Runs'],
      summary: "Answer a run's client tool calls",
      operationId: 'submitToolOutputs',
      description:
        'A run whose model called one of the agent\'s client tools (a `tools` entry that is neither a built-in nor `mcp:...`) waits in `requires_action` (the JSON answer\'s `required_action`, the SSE `requires_action` event, `run.tool_call` frames with `kind` `client`). Send each call\'s output (text) here; once every waiting call of the step has one, the run resumes and this answers like POST /agents/{agent_id}/chat (its end, or its events with `"stream": true`); until then it answers the run as it still waits. A call the run does not wait on is 404 `tool_call_not_found` (nothing is written); a run that is not waiting is 409 `run_not_waiting`; another user\'s or an unknown run is 404 `Run not found`. Unanswered within TOOL_OUTPUT_TIMEOUT_SECONDS, the run fails with `run_timeout`.',
      request: {
        params: runParams,
        body: jsonRequest(
          z
            .object({
              tool_outputs: z
                .array(z.object({ call_id: z.string().min(1).max(128), output: z.string().max(1024 * 1024) }))
                .min(1, { error: 'tool_outputs must list at least one output' })
                .max(64),
              stream: z.boolean().optional(),
            })
            .openapi('ToolOutputs', { example: { tool_outputs: [{ call_id: 'call_8f2e', output: '{"temperature": 21}' }] } }),
        ),
      },
      responses: {
        200: { description: 'The run\'s answer (JSON), or its events (`"stream": true`)', content: { 'application/json': { schema: Answer }, 'text/event-stream': { schema: z.string() } } },
        400: errorResponse('Missing JSON in request', 'tool_outputs must list at least one output'),
        404: errorResponse(RUN_NOT_FOUND, 'The run is not waiting on that call'),
        409: errorResponse('The run is not waiting for tool outputs'),
      },
    }),
    async (c) => {
      const b = c.req.valid('json');
      const r = await submitToolOutputs(depsOf(c), c.get('user').id, c.req.valid('param').run_id, { outputs: b.tool_outputs, stream: b.stream === true });
      return r.stream ? sseResponse(r.stream) : c.json(r.answer!, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/runs/{run_id}/events',
      tags: ['Runs'],
      summary: "Re-attach to a run's events (SSE)",
      operationId: 'runEvents',
      description: `The run's Server-Sent Events, from the start or after \`Last-Event-ID\` (the id of the last event you received): the text you missed comes as one \`token\` event, then the live ones; a finished run's stream ends with its \`end\` or \`error\` event at once. ${EVENTS} 404 \`Run not found\`.`,
      request: { params: runParams, headers: z.object({ 'last-event-id': z.string().optional() }) },
      responses: { 200: sse('The run\'s events'), 404: errorResponse(RUN_NOT_FOUND) },
    }),
    async (c) => sseResponse(await runEvents(depsOf(c), c.get('user').id, c.req.valid('param').run_id, c.req.header('last-event-id') ?? null)),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/runs/{run_id}/cancel',
      tags: ['Runs'],
      summary: 'Cancel a live run',
      operationId: 'cancelRun',
      description:
        'Aborts the run\'s model call; the run ends `cancelled` and any text it had written is stored as the agent\'s message. Answers `{"run_id", "status", "message_id", "message"}` once it has ended. A finished run is 409 `run_not_active`; another user\'s or an unknown run is 404 `Run not found`.',
      request: { params: runParams },
      responses: {
        200: okJson(z.object({ run_id: z.string(), status: z.string(), message_id: z.string().nullable(), message: z.string() })),
        404: errorResponse(RUN_NOT_FOUND),
        409: errorResponse('The run has already finished'),
      },
    }),
    async (c) => {
      const o = await cancelRun(depsOf(c), c.get('user').id, c.req.valid('param').run_id);
      return c.json({ run_id: o.run_id, status: o.status, message_id: o.message_id, message: o.text }, 200);
    },
  );
