import { z } from 'zod';
import { epochSeconds } from '../lib/time';

/**
 * The chat protocol, defined once: the frames a client sends (untrusted, parsed here), the frames
 * the ChatRoom object sends, the one result of its RPC methods, and the refusals of its connect
 * path. Imported by src/durable/, src/chats/, the tests and, through JSDoc types, public/js/ (the chat page),
 * which tsconfig.page.json type-checks: so this file imports nothing that needs Workers types
 * (not even src/lib/errors.ts; src/durable/chat-frames.ts checks that every code here is one of
 * its ERROR_CODES).
 */

// ---- what a message looks like in frames and in GET /chat/messages ---------------------------

export const chatMessageSchema = z.object({
  message_id: z.string(),
  chat_id: z.string(),
  seq: z.number().int(),
  sender_id: z.string(),
  role: z.enum(['user', 'system', 'agent']),
  content: z.string(),
  created_at: z.string(),
  client_id: z.string().nullable(),
});
export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type Role = ChatMessage['role'];

// ---- authorization strings ---------------------------------------------------------------------

export type StringKind = 'connection' | 'message';

/** A string as the object issues it (the RPC `issue` answers this). */
export interface Issued {
  string: string;
  createdAt: number;
  expiresAt: number;
}

/** The body of GET /chat/authorize[/message], and an ack's `next_message_string`. */
export type IssuedJson<K extends StringKind> = { [F in `${K}_string`]: string } & {
  string: string;
  chat_id: string;
  created_at: number;
  expires_at: number;
  created_by: string;
};

export function issuedJson<K extends StringKind>(kind: K, chatId: string, userId: string, issued: Issued): IssuedJson<K> {
  return {
    [`${kind}_string`]: issued.string,
    string: issued.string,
    chat_id: chatId,
    created_at: epochSeconds(issued.createdAt),
    expires_at: epochSeconds(issued.expiresAt),
    created_by: userId,
  } as IssuedJson<K>;
}

// ---- client frames ------------------------------------------------------------------------------

/** The exact ping text, answered by the runtime without waking the object (setWebSocketAutoResponse). */
export const PING_TEXT = '{"type":"ping"}';
export const PONG_TEXT = '{"type":"pong"}';

/** What a well-behaved client sends. */
export type ClientFrame =
  | { type: 'ping' }
  /** `agent_id`: an agent of the chat's workspace answers this message (else the chat's default agent, if any). */
  | { type: 'message'; message_string: string; content: string; client_id?: string | null; agent_id?: string | null }
  /** Cancels a live run of this chat (no message string: the socket is the chat owner's). */
  | { type: 'cancel'; run_id: string }
  /** The outputs of client tool calls a run of this chat waits on (as POST /runs/{run_id}/tool-outputs). */
  | { type: 'tool_outputs'; run_id: string; tool_outputs: { call_id: string; output: string }[] };

const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const CLIENT_ID = 'client_id must be a string of 1 to 128 characters';
const AGENT_ID = 'agent_id must be a string of 1 to 64 characters';
const RUN_ID = 'run_id must be a string of 1 to 64 characters';
const TOOL_OUTPUTS = 'tool_outputs must be 1 to 64 {"call_id", "output"} objects with string values';

/**
 * The shape check of an untrusted frame. `message_string` and `content` stay unknown here: the
 * string is checked first (src/durable/chat-frames.ts), and a resent client_id is answered
 * whatever its content, so content is judged only after both.
 */
export const clientFrameSchema = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('ping') }),
    z.object({
      type: z.literal('message'),
      message_string: z.unknown().optional(),
      content: z.unknown().optional(),
      client_id: z.string({ error: CLIENT_ID }).min(1, { error: CLIENT_ID }).max(128, { error: CLIENT_ID }).nullish(),
      agent_id: z.string({ error: AGENT_ID }).min(1, { error: AGENT_ID }).max(64, { error: AGENT_ID }).nullish(),
    }),
    z.object({ type: z.literal('cancel'), run_id: z.string({ error: RUN_ID }).min(1, { error: RUN_ID }).max(64, { error: RUN_ID }) }),
    z.object({
      type: z.literal('tool_outputs'),
      run_id: z.string({ error: RUN_ID }).min(1, { error: RUN_ID }).max(64, { error: RUN_ID }),
      tool_outputs: z
        .array(z.object({ call_id: z.string({ error: TOOL_OUTPUTS }).min(1).max(128), output: z.string({ error: TOOL_OUTPUTS }).max(1024 * 1024) }), { error: TOOL_OUTPUTS })
        .min(1, { error: TOOL_OUTPUTS })
        .max(64, { error: TOOL_OUTPUTS }),
    }),
  ],
  { error: (issue) => (isObject(issue.input) ? 'Unknown frame type' : 'Frames must be JSON objects') },
);
export type ParsedClientFrame = z.output<typeof clientFrameSchema>;

/** Parses one WebSocket message; a refusal is the `msg` of an `invalid_frame` error. */
export function parseClientFrame(data: string | ArrayBuffer): { ok: true; frame: ParsedClientFrame } | { ok: false; msg: string } {
  if (typeof data !== 'string') return { ok: false, msg: 'Frames must be JSON text' };
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return { ok: false, msg: 'Frames must be JSON text' };
  }
  const parsed = clientFrameSchema.safeParse(json);
  return parsed.success ? { ok: true, frame: parsed.data } : { ok: false, msg: parsed.error.issues[0].message };
}

// ---- server frames ------------------------------------------------------------------------------

export const FRAME_ERROR_CODES = [
  'invalid_frame', 'invalid_message_string', 'expired_message_string', 'content_too_large', 'rate_limited', 'config_invalid', 'internal_error',
  'run_not_found', 'run_not_active', 'run_not_waiting', 'tool_call_not_found',
] as const;
export type FrameErrorCode = (typeof FRAME_ERROR_CODES)[number];

export type ReadyFrame = { type: 'ready'; chat_id: string; user_id: string; last_seq: number };
export type MessageFrame = { type: 'message'; message: ChatMessage };
/** Sockets that connected with batch=1 get messages coalesced (src/durable/chat-fanout.ts). */
export type MessagesFrame = { type: 'messages'; messages: ChatMessage[] };
export type AckFrame = {
  type: 'ack';
  client_id: string | null;
  message_id: string;
  seq: number;
  next_message_string: IssuedJson<'message'>;
  /** A resent client_id: this is the first ack again and nothing new was stored. */
  duplicate?: true;
};
export type ErrorFrame = {
  type: 'error';
  code: FrameErrorCode;
  msg: string;
  client_id: string | null;
  /** rate_limited: seconds until the user may send again. */
  retry_after?: number;
  /** config_invalid: the var that does not parse. */
  var?: string;
};
export type PongFrame = { type: 'pong' };

// ---- agent runs ---------------------------------------------------------------------------------

/**
 * A run's states. `queued` and `running` are live; `requires_action` (client tool outputs) and
 * `waiting_approval` (a person's decision) wait, with nothing in memory; the rest are final.
 */
export const RUN_STATUSES = ['queued', 'running', 'requires_action', 'waiting_approval', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const LIVE_RUN_STATUSES = ['queued', 'running'] as const satisfies readonly RunStatus[];
export const isLiveRun = (s: RunStatus) => (LIVE_RUN_STATUSES as readonly RunStatus[]).includes(s);
/** Waiting: nothing of the run in memory until its calls are answered (client outputs, approvals). */
export const WAITING_RUN_STATUSES = ['requires_action', 'waiting_approval'] as const satisfies readonly RunStatus[];
export const isWaitingRun = (s: RunStatus): s is (typeof WAITING_RUN_STATUSES)[number] => (WAITING_RUN_STATUSES as readonly RunStatus[]).includes(s);
/** Not over yet: live or waiting. A D1 row in one of these may still be written again. */
export const UNFINISHED_RUN_STATUSES = [...LIVE_RUN_STATUSES, ...WAITING_RUN_STATUSES] as const;
/** Why a model call ended: `length` at max_tokens or AGENT_REPLY_MAX_BYTES. */
export type FinishReason = 'stop' | 'length' | 'cancelled' | 'error' | 'tool_calls';
/**
 * The tokens a run's model calls used, as priced (src/cost/pricing.ts): the provider's count, or,
 * `estimated`, counted from the text (about 4 characters a token) when it reported none.
 */
export type RunUsage = { input_tokens: number; output_tokens: number; estimated: boolean };

/** Every run.* frame goes to every socket of the chat, whatever its `batch` mode. */
export type RunStartedFrame = { type: 'run.started'; run_id: string; agent_id: string; reply_to_seq: number | null };
/** The text since the previous delta of this run (at most one frame per RUN_DELTA_WINDOW_MS). */
export type RunDeltaFrame = { type: 'run.delta'; run_id: string; text: string };
/** `completed` or `cancelled`; the stored reply (if any) was sent as a `message` frame just before. */
export type RunFinishedFrame = { type: 'run.finished'; run_id: string; status: 'completed' | 'cancelled'; usage: RunUsage | null };
export type RunFailedFrame = { type: 'run.failed'; run_id: string; code: string; msg: string };
/** The model called a tool (`kind`: a built-in, an MCP server's, or the client's); `arguments` as it wrote them (parsed when JSON). */
export type RunToolCallFrame = { type: 'run.tool_call'; run_id: string; call_id: string; name: string; kind: 'builtin' | 'mcp' | 'client'; arguments: Json };
/** The tool's result as the model reads it: `output`, or `error` (a refused or failed call). */
export type RunToolResultFrame = { type: 'run.tool_result'; run_id: string; call_id: string; output?: Json; error?: string };
/**
 * A call to a tool marked `requires_approval` waits for a person (POST /approvals/{approval_id}/approve
 * or /reject); the run waits in `waiting_approval` once its step's other calls are done.
 */
export type RunApprovalRequiredFrame = { type: 'run.approval_required'; run_id: string; call_id: string; approval_id: string; name: string; arguments: Json };
export type RunFrame = RunStartedFrame | RunDeltaFrame | RunFinishedFrame | RunFailedFrame | RunToolCallFrame | RunToolResultFrame | RunApprovalRequiredFrame;

/** A JSON value (what tool outputs are): typed so that it crosses RPC. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** What the run used, on the SSE `end` event and the chat route's answer: `cost` in USD (0 when nothing was priced). */
export type RunMetadata = { model: string; tokens_used: number; usage: RunUsage | null; finish_reason: FinishReason | null; cost: number };
/** The Server-Sent Events of POST /agents/{agent_id}/chat (stream) and GET /runs/{run_id}/events. */
export type RunEvent =
  | { type: 'start'; session_id: string; run_id: string; agent_id: string }
  | { type: 'token'; content: string }
  | { type: 'end'; run_id: string; status: 'completed' | 'cancelled'; message_id: string | null; metadata: RunMetadata }
  | { type: 'error'; run_id: string; code: string; msg: string }
  | RunToolCallFrame
  | RunToolResultFrame
  | RunApprovalRequiredFrame
  /** The run waits for your client tools' outputs (POST /runs/{run_id}/tool-outputs); the stream ends here. */
  | { type: 'requires_action'; run_id: string; tool_calls: { call_id: string; name: string; arguments: Json }[] }
  /** The run waits for approvals (run.approval_required before); the stream ends here: GET /runs/{run_id}/events again once decided. */
  | { type: 'waiting_approval'; run_id: string; approvals: PendingApproval[] };

/** A tool call held for approval, as the waiting run lists it. */
export type PendingApproval = { approval_id: string; call_id: string; name: string; arguments: Json };

export type ServerFrame = ReadyFrame | MessageFrame | MessagesFrame | AckFrame | ErrorFrame | PongFrame | RunFrame;

export const errorFrame = (code: FrameErrorCode, msg: string, clientId: string | null, extra: Pick<ErrorFrame, 'retry_after' | 'var'> = {}): ErrorFrame =>
  ({ type: 'error', code, msg, client_id: clientId, ...extra });

/**
 * The two broadcast frames, built from messages already serialized once: the same text as
 * JSON.stringify of a MessageFrame or MessagesFrame, without serializing each message per frame.
 */
export const encodeMessageFrame = (messageJsonText: string) => `{"type":"message","message":${messageJsonText}}`;
export const encodeMessagesFrame = (messageJsonTexts: string[]) => `{"type":"messages","messages":[${messageJsonTexts.join(',')}]}`;

/** Close codes: the session was revoked; the chat was deleted. */
export const CLOSE_SESSION_REVOKED = { code: 4401, reason: 'Session revoked' } as const;
export const CLOSE_CHAT_DELETED = { code: 4404, reason: 'Chat deleted' } as const;

// ---- RPC results and connect refusals -----------------------------------------------------------

/** Every way the object says no, with its HTTP status and default `msg`. */
const FAILURES = {
  chat_not_found: [404, 'Chat not found'],
  invalid_content: [400, 'Content must be non-empty and at most MESSAGE_MAX_BYTES bytes'],
  invalid_connection_string: [401, 'Invalid connection string'],
  expired_connection_string: [401, 'Connection string has expired'],
  session_revoked: [401, 'Session has been revoked'],
  config_invalid: [503, 'Invalid configuration'],
  agent_not_found: [404, 'Agent not found'],
  agent_not_in_workspace: [409, "The agent is not in this chat's workspace"],
  agent_offline: [409, 'The agent is stopped; start it first'],
  run_not_found: [404, 'Run not found'],
  run_not_active: [409, 'The run has already finished'],
  run_in_progress: [409, 'The agent is already answering in this chat'],
  model_unavailable: [503, 'No model endpoint is configured: set LLM_BASE_URL'],
  model_error: [502, 'The model endpoint failed'],
  model_not_allowed: [400, "The agent's model is not one the operator allows (LLM_MODELS)"],
  budget_exceeded: [402, 'The monthly budget is spent'],
  run_timeout: [504, 'The run took longer than LLM_MAX_RUN_MS'],
  run_interrupted: [500, "The run was interrupted: the chat's object stopped while it was live"],
  run_not_waiting: [409, 'The run is not waiting for tool outputs'],
  tool_call_not_found: [404, 'The run is not waiting on that call'],
} as const satisfies Record<string, readonly [number, string]>;
export type FailureCode = keyof typeof FAILURES;
export type FailureStatus = (typeof FAILURES)[FailureCode][0];

export interface Failure {
  ok: false;
  code: FailureCode;
  msg: string;
  /** config_invalid: the var that does not parse. */
  var?: string;
}

/** What every RPC method of the ChatRoom object answers. */
export type Result<T extends object = object> = ({ ok: true } & T) | Failure;

export const fail = (code: FailureCode, msg: string = FAILURES[code][1]): Failure => ({ ok: false, code, msg });
/** A var that does not parse (src/lib/config.ts's ConfigError: `detail` is its message, naming the var). */
export const configInvalid = (varName: string, detail: string): Failure => ({
  ...fail('config_invalid', `Invalid configuration: ${detail}`),
  var: varName,
});
export const failureStatus = (f: Failure): FailureStatus => FAILURES[f.code][0];

/** The connect path's refusal: a JSON Response (it cannot be an RPC result: success is a 101). */
export const refusalResponse = (f: Failure) => Response.json(f, { status: failureStatus(f) });
/** Reads back a refusalResponse (the route turns it into its own error body). */
export const readRefusal = async (res: Response): Promise<Failure> => (await res.json()) as Failure;

/** The connect request's query, as the object reads it (the route validated it first). */
export function connectParams(url: URL) {
  const afterSeq = Number(url.searchParams.get('after_seq'));
  return {
    connectionString: url.searchParams.get('connection_string'),
    afterSeq: url.searchParams.has('after_seq') && Number.isSafeInteger(afterSeq) && afterSeq >= 0 ? afterSeq : null,
    batch: url.searchParams.get('batch') === '1',
  };
}
