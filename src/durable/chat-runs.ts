import { priceCall, usd } from '../cost/pricing';
import { insertUsageStatement, recordCrossingsStatement } from '../cost/queries';
import { getDb } from '../db/client';
import type { Config } from '../lib/config';
import { newId } from '../lib/ids';
import { jsonOrText } from '../lib/json';
import { iso } from '../lib/time';
import { callModel, ModelError, type ModelMessage, type ModelTool, type ModelToolCall } from '../model/client';
import { callMcpTool, mcpToolsFor } from '../mcp/index';
import type { PromptMemory } from '../memories/queries';
import { memoriesForPrompt } from '../memories/service';
import { createToolApproval } from '../approvals/service';
import { expireOne, findUserApproval } from '../approvals/queries';
import { type AskAgentArgs, type BuiltinName, builtinDefinition, isBuiltin, runBuiltin, type ToolResult } from '../tools/builtin';
import { MCP_ENTRY } from '../tools/names';
import { upsertRunStatement, upsertToolCallStatement } from '../runs/queries';
import type { Fanout } from './chat-fanout';
import * as store from './chat-store';
import {
  type Failure,
  fail,
  isLiveRun,
  isWaitingRun,
  type FinishReason,
  type Json,
  type Result,
  type RunEvent,
  type RunFrame,
  type RunMetadata,
  type RunStatus,
  type RunUsage,
  UNFINISHED_RUN_STATUSES,
  WAITING_RUN_STATUSES,
} from './protocol';
import { admit, loadRunAgent, loadSpend, type RunAgent } from './run-agent';

/**
 * Agent runs, inside the chat's object: one answer of one agent, executed here and never in a
 * Worker request, so it goes on when the client that asked leaves. A run is a sequence of
 * persisted steps (one model call each; the tools issue adds more than one) whose state lives in
 * this object's SQLite: the `runs` row (status, text checkpointed every RUN_CHECKPOINT_MS, usage)
 * and a `run_steps` row per model call. What only a live run has (the model call's abort
 * controller, the text since the last checkpoint, the SSE listeners) is in memory; an object that
 * wakes with a `running` row in storage lost that run, and its alarm marks it failed
 * (`run_interrupted`) and tells the sockets. Nothing stays `running`.
 *
 * D1's `runs` row mirrors each run's start and end (src/runs/queries.ts upsertRunStatement,
 * idempotent and never overwriting a final state); a write that fails is retried by the alarm
 * (`d1_dirty`) and the cron sweeps what a dead object left. The end's write is one D1 batch: the
 * run's row, a usage ledger row per priced model call (`<run_id>:<step>`, ignored when already
 * there) and the budget thresholds it crossed (src/cost/queries.ts), so what a run spent is in
 * D1 exactly when its final state is, and a retry adds nothing twice.
 *
 * Each model call is priced when it ends (src/cost/pricing.ts priceCall): with the provider's
 * usage, or estimated from the text (flagged `estimated`) when it reported none, also for a call
 * cancelled or failed after text arrived. A call that ended with no text and no usage (an error
 * answer, a refused connection, a cancel before the first token) records nothing: providers do
 * not bill their error answers, and an estimate of a prompt that may never have been processed
 * would count spend that is not there.
 */

/** While a run is live the alarm fires at least this often: the heartbeat that finds orphaned runs. */
export const RUN_HEARTBEAT_MS = 10_000;
/** A D1 write of a run that failed is retried this much later. */
const D1_RETRY_MS = 5_000;
/** The alarm looks at an approval this long after its expiry (D1 stamped it a little after the call was stored). */
const APPROVAL_GRACE_MS = 5_000;

export function migrateRuns(sql: SqlStorage) {
  sql.exec(`
    CREATE TABLE IF NOT EXISTS runs (
      run_id TEXT PRIMARY KEY,
      agent_id TEXT NOT NULL,
      user_id TEXT NOT NULL,
      workspace_id TEXT NOT NULL,
      status TEXT NOT NULL,
      trigger TEXT NOT NULL,
      reply_to_seq INTEGER,
      agent TEXT NOT NULL,
      text TEXT NOT NULL DEFAULT '',
      step INTEGER NOT NULL DEFAULT 0,
      reply_message_id TEXT,
      input_tokens INTEGER,
      output_tokens INTEGER,
      cost_micros INTEGER,
      estimated INTEGER NOT NULL DEFAULT 0,
      unpriced INTEGER NOT NULL DEFAULT 0,
      finish_reason TEXT,
      error_code TEXT,
      error_msg TEXT,
      created_at INTEGER NOT NULL,
      started_at INTEGER,
      first_token_at INTEGER,
      finished_at INTEGER,
      deadline INTEGER,
      d1_dirty INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX IF NOT EXISTS runs_live_idx ON runs (agent_id, status) WHERE status IN ('queued', 'running');
    CREATE INDEX IF NOT EXISTS runs_reply_idx ON runs (reply_to_seq, agent_id);
    CREATE INDEX IF NOT EXISTS runs_dirty_idx ON runs (d1_dirty) WHERE d1_dirty = 1;
    CREATE TABLE IF NOT EXISTS run_tool_calls (
      run_id TEXT NOT NULL,
      call_id TEXT NOT NULL,
      step INTEGER NOT NULL,
      name TEXT NOT NULL,
      kind TEXT NOT NULL,
      arguments TEXT NOT NULL,
      status TEXT NOT NULL,
      output TEXT,
      error TEXT,
      created_at INTEGER NOT NULL,
      finished_at INTEGER,
      PRIMARY KEY (run_id, call_id)
    );
    CREATE TABLE IF NOT EXISTS run_steps (
      run_id TEXT NOT NULL,
      step INTEGER NOT NULL,
      status TEXT NOT NULL,
      text TEXT NOT NULL DEFAULT '',
      input_tokens INTEGER,
      output_tokens INTEGER,
      cost_micros INTEGER,
      estimated INTEGER NOT NULL DEFAULT 0,
      unpriced INTEGER NOT NULL DEFAULT 0,
      finish_reason TEXT,
      started_at INTEGER NOT NULL,
      finished_at INTEGER,
      PRIMARY KEY (run_id, step)
    );
  `);
  // Objects made before the usage ledger: the columns it added (a step's cost_micros is null
  // when the call recorded nothing).
  for (const table of ['runs', 'run_steps']) {
    const have = new Set(sql.exec<{ name: string }>(`PRAGMA table_info(${table})`).toArray().map((c) => c.name));
    if (!have.has('cost_micros')) sql.exec(`ALTER TABLE ${table} ADD COLUMN cost_micros INTEGER`);
    if (!have.has('estimated')) sql.exec(`ALTER TABLE ${table} ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0`);
    if (!have.has('unpriced')) sql.exec(`ALTER TABLE ${table} ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0`);
    // Client tools: the chat's last seq when the run began (its context, rebuilt on resume), and the wait's end.
    if (table === 'runs' && !have.has('context_seq')) sql.exec('ALTER TABLE runs ADD COLUMN context_seq INTEGER');
    if (table === 'runs' && !have.has('waiting_until')) sql.exec('ALTER TABLE runs ADD COLUMN waiting_until INTEGER');
    // Delegation: a sub-run's parent, depth and question (its whole context).
    if (table === 'runs' && !have.has('parent_run_id')) sql.exec('ALTER TABLE runs ADD COLUMN parent_run_id TEXT');
    if (table === 'runs' && !have.has('depth')) sql.exec('ALTER TABLE runs ADD COLUMN depth INTEGER NOT NULL DEFAULT 0');
    if (table === 'runs' && !have.has('question')) sql.exec('ALTER TABLE runs ADD COLUMN question TEXT');
  }
  // Approvals: the approval that holds a call marked requires_approval.
  const calls = new Set(sql.exec<{ name: string }>('PRAGMA table_info(run_tool_calls)').toArray().map((c) => c.name));
  if (!calls.has('approval_id')) sql.exec('ALTER TABLE run_tool_calls ADD COLUMN approval_id TEXT');
  // A waiting call's end: its client output's timeout, or its approval's expiry.
  if (!calls.has('waits_until')) sql.exec('ALTER TABLE run_tool_calls ADD COLUMN waits_until INTEGER');
}

/** The statuses of a run that is not over: live (queued, running) or waiting (requires_action, waiting_approval). */
const sqlList = (values: readonly string[]) => `(${values.map((v) => `'${v}'`).join(', ')})`;
const UNFINISHED = sqlList(UNFINISHED_RUN_STATUSES);
const WAITING = sqlList(WAITING_RUN_STATUSES);
/** A call still waiting: on the client's output, or on a person's decision. */
const CALL_WAITING = "('requires_action', 'waiting_approval')";

export type RunTrigger = 'http' | 'message' | 'code' | 'agent';

/** What a new run row has not done yet (both places that insert one). */
const NOTHING_YET = {
  text: '',
  step: 0,
  reply_message_id: null,
  input_tokens: null,
  output_tokens: null,
  cost_micros: null,
  estimated: 0,
  unpriced: 0,
  finish_reason: null,
  started_at: null,
  first_token_at: null,
  context_seq: null,
  waiting_until: null,
} as const;

/** A run that is not a sub-run. */
const TOP_LEVEL = { parent_run_id: null, depth: 0, question: null } as const;

interface RunRow extends Record<string, SqlStorageValue> {
  context_seq: number | null;
  waiting_until: number | null;
  /** A sub-run (ask_agent): the run that asked, how deep it is (top-level runs are 0), and its question. */
  parent_run_id: string | null;
  depth: number;
  question: string | null;
  run_id: string;
  agent_id: string;
  user_id: string;
  workspace_id: string;
  status: RunStatus;
  trigger: RunTrigger;
  reply_to_seq: number | null;
  agent: string;
  text: string;
  step: number;
  reply_message_id: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  /** The sum of its steps' costs (micro-USD); null while no model call has been priced. */
  cost_micros: number | null;
  /** 1 if a priced step's usage was estimated (the provider reported none); `unpriced`: its model is not in MODEL_PRICES. */
  estimated: number;
  unpriced: number;
  finish_reason: FinishReason | null;
  error_code: string | null;
  error_msg: string | null;
  created_at: number;
  started_at: number | null;
  first_token_at: number | null;
  finished_at: number | null;
  deadline: number | null;
  d1_dirty: number;
}

/** How a run starts: from the agent chat route, a chat message, or code (processes, workflows). */
export interface StartRunInput {
  agentId: string;
  /** Who asks: the chat's owner (anyone else is refused as `chat_not_found`). */
  userId: string;
  trigger: RunTrigger;
  /** A message to store first (the HTTP route's, or code's); a chat message's run replies to `replyToSeq`. */
  message?: { content: string; role: 'user' | 'system'; clientId?: string | null };
  replyToSeq?: number | null;
  /** The agent and workspace (and the prompt's first memories), already read and checked by the caller (the HTTP route) with loadRunAgent. */
  preloaded?: { agent: RunAgent; workspaceId: string; memories?: PromptMemory[] };
  /** Answer with the run's Server-Sent Events. */
  stream?: boolean;
}

export interface StartedRun {
  run_id: string;
  chat_id: string;
  agent_id: string;
  status: RunStatus;
  /** A repeated client_id: this is the first attempt's run, nothing new was stored. */
  joined: boolean;
  stream?: ReadableStream<Uint8Array>;
}

/** A finished (or still live) run as the chat route answers it. */
export interface RunOutcome {
  run_id: string;
  chat_id: string;
  status: RunStatus;
  message_id: string | null;
  text: string;
  finished_at: string | null;
  metadata: RunMetadata;
  error: { code: string; msg: string } | null;
  /**
   * The tasks this turn's tool calls created or changed (Behflow's `tasks`), last state of each,
   * as JSON text: it crosses RPC, whose types do not take a recursive JSON type.
   */
  tasks: string;
  /** `requires_action`: the client tool calls the run waits on (`arguments` as the model wrote them). */
  required_action: { tool_calls: { call_id: string; name: string; arguments: string }[] } | null;
  /** `waiting_approval`: the calls held for a person's decision (`arguments` as JSON text). */
  pending_approvals: { approval_id: string; call_id: string; name: string; arguments: string }[] | null;
}

/** What the object lends the runs: its storage, sockets, config and alarm. */
export interface RunHost {
  readonly sql: SqlStorage;
  readonly env: Env;
  readonly messages: store.Messages;
  readonly fanout: Fanout;
  chatId(): string;
  cfg(): Config;
  isDead(): boolean;
  /** Makes sure the object's alarm fires by `at`. */
  alarmBy(at: number): Promise<void>;
}

const encoder = new TextEncoder();
const sseText = (id: string, ev: RunEvent) => encoder.encode(`id: ${id}\ndata: ${JSON.stringify(ev)}\n\n`);
const KEEPALIVE = encoder.encode(': keep-alive\n\n');

/** One SSE client of one run. Writes are never awaited; a client that went away is dropped. */
class Listener {
  private readonly writer: WritableStreamDefaultWriter<Uint8Array>;
  private lastWrite = Date.now();
  private readonly timer: ReturnType<typeof setInterval>;
  closed = false;

  constructor(writable: WritableStream<Uint8Array>, keepaliveMs: number, private readonly onGone: (l: Listener) => void) {
    this.writer = writable.getWriter();
    this.timer = setInterval(() => {
      if (Date.now() - this.lastWrite >= keepaliveMs) this.write(KEEPALIVE);
    }, keepaliveMs);
  }

  write(bytes: Uint8Array) {
    if (this.closed) return;
    this.lastWrite = Date.now();
    this.writer.write(bytes).catch(() => this.gone());
  }

  send(id: string, ev: RunEvent) {
    this.write(sseText(id, ev));
  }

  end() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.writer.close().catch(() => {});
  }

  private gone() {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.onGone(this);
  }
}

/** What only a live (queued or running) run has: in memory, gone with an eviction. */
interface LiveRun {
  id: string;
  agentId: string;
  agent: RunAgent;
  controller: AbortController;
  /** The text so far (checkpointed to storage every RUN_CHECKPOINT_MS). */
  text: string;
  bytes: number;
  /** Text not yet sent to the sockets as run.delta, and when the last delta was sent. */
  pendingDelta: string;
  lastDeltaAt: number;
  deltaTimer: ReturnType<typeof setTimeout> | undefined;
  lastCheckpoint: number;
  firstTokenAt: number | null;
  listeners: Set<Listener>;
  done: Promise<void>;
  resolveDone: () => void;
  /** The D1 write of the run's start, which the end write follows. */
  d1: Promise<void>;
  /** The MCP tools offered to the model, by the name it sees. */
  mcp?: Map<string, McpOffer>;
  /** A sub-run (ask_agent): it answers its parent, not the chat, and cannot wait. */
  sub: boolean;
  /** The prompt's first memories, read with the run's admission (loadRunAgent); else execute reads them. */
  memories?: PromptMemory[];
}

/** Why a run's model call was aborted (AbortController reasons). */
type AbortReason = 'cancelled' | 'timeout' | 'length' | 'deleted';

const usageOf = (r: { input_tokens: number | null; output_tokens: number | null; estimated: number }): RunUsage | null =>
  r.input_tokens === null && r.output_tokens === null
    ? null
    : { input_tokens: r.input_tokens ?? 0, output_tokens: r.output_tokens ?? 0, estimated: r.estimated === 1 };

/** A priced step, as run_steps stores it (cost_micros set). */
interface StepRow extends Record<string, SqlStorageValue> {
  step: number;
  input_tokens: number;
  output_tokens: number;
  cost_micros: number;
  estimated: number;
  unpriced: number;
  finished_at: number;
}

/** The text of a call's prompt, for estimating its input tokens when the provider reports none. */
const promptText = (messages: ModelMessage[]) => messages.map((m) => m.content).join('\n');

export class Runs {
  private readonly live = new Map<string, LiveRun>();
  /** Queued runs whose admission read (startNext) is in flight: started once, not twice. */
  private readonly admitting = new Set<string>();

  constructor(private readonly host: RunHost) {}

  private row(runId: string): RunRow | null {
    return this.host.sql.exec<RunRow>('SELECT * FROM runs WHERE run_id = ?', runId).toArray()[0] ?? null;
  }

  private liveRows(agentId?: string): RunRow[] {
    return agentId === undefined
      ? this.host.sql.exec<RunRow>(`SELECT * FROM runs WHERE status IN ${UNFINISHED} ORDER BY created_at`).toArray()
      : this.host.sql.exec<RunRow>(`SELECT * FROM runs WHERE agent_id = ? AND parent_run_id IS NULL AND status IN ${UNFINISHED} ORDER BY created_at`, agentId).toArray();
  }

  /** True if storage holds a live run (the constructor asks: a fresh object has none of its own, so those are orphans). */
  hasStoredLiveRuns(): boolean {
    return this.host.sql.exec(`SELECT 1 FROM runs WHERE status IN ${UNFINISHED} LIMIT 1`).toArray().length > 0;
  }

  /** A stored run's error code, if it failed. */
  errorOf(runId: string): string | null {
    return this.row(runId)?.error_code ?? null;
  }

  /** Live runs of this object, for the agent-status and busy checks. */
  isBusy(agentId: string): boolean {
    return this.liveRows(agentId).length > 0;
  }

  // ---- starting ---------------------------------------------------------------------------------

  /**
   * Admits a run: the agent is loaded and checked (one D1 read, src/durable/run-agent.ts: the
   * agent, its model on the allow-list, the user's month not spent), the message (if any) stored,
   * the run recorded and started. Refusals answer a Failure and store nothing, except for a chat
   * message's run (`trigger: 'message'`), whose message is already stored: its refusal is a failed
   * run and a run.failed frame. A repeated HTTP client_id joins the first attempt's run.
   */
  async start(input: StartRunInput): Promise<Result<{ run: StartedRun }>> {
    const cfg = this.host.cfg();
    const chatId = this.host.chatId();
    if (input.message?.clientId) {
      const joined = this.joinByClientId(input);
      if (joined) return joined;
    }
    const loaded = input.preloaded
      ? { chat: { ownerId: input.userId, workspaceId: input.preloaded.workspaceId }, agent: input.preloaded.agent, memories: input.preloaded.memories, failure: undefined }
      : await loadRunAgent(getDb(this.host.env), chatId, input.agentId);
    if (this.host.isDead() || !loaded.chat || loaded.chat.ownerId !== input.userId) return fail('chat_not_found');
    const chat = loaded.chat;
    const refuse = (f: Failure): Result<{ run: StartedRun }> => (input.trigger === 'message' ? this.failedAtAdmission(input, chat.workspaceId, f) : f);
    if (!cfg.llm.baseUrl) return refuse({ ...fail('model_unavailable'), var: 'LLM_BASE_URL' });
    if (!loaded.agent) return refuse(loaded.failure);
    // Admission: the model allowed, the budget not spent (the HTTP route checked its preloaded agent itself).
    if ('spend' in loaded) {
      const refusal = admit(cfg.cost, loaded.agent, loaded.spend);
      if (refusal) return refuse(refusal);
    }

    // From here on synchronous: the busy check, the message and the run row see one state.
    if (input.message?.clientId) {
      const joined = this.joinByClientId(input);
      if (joined) return joined;
    }
    const busy = this.liveRows(input.agentId);
    if (busy.length > 0 && input.trigger !== 'message') return fail('run_in_progress');
    // A chat message to a busy agent: one queued follow-up run, which will see everything said since.
    if (busy.some((r) => r.status === 'queued')) {
      const queued = busy.find((r) => r.status === 'queued')!;
      return { ok: true, run: this.started(queued, false) };
    }
    let replyToSeq = input.replyToSeq ?? null;
    if (input.message) {
      if (input.message.content.trim() === '' || encoder.encode(input.message.content).byteLength > cfg.messageMaxBytes) {
        return fail('invalid_content', `Content must be non-empty and at most ${cfg.messageMaxBytes} bytes`);
      }
      const stored = this.host.messages.insert({
        message_id: newId(),
        sender_id: input.userId,
        role: input.message.role,
        content: input.message.content,
        created_at: Date.now(),
        client_id: input.message.clientId ?? null,
      })!; // a taken client_id was joined above, in this same synchronous stretch
      this.host.fanout.broadcast(store.messageJson(chatId, stored));
      replyToSeq = stored.seq;
    }
    const now = Date.now();
    const row: RunRow = {
      run_id: newId(),
      agent_id: loaded.agent.agentId,
      user_id: input.userId,
      workspace_id: chat.workspaceId,
      status: busy.length > 0 ? 'queued' : 'running',
      trigger: input.trigger,
      reply_to_seq: replyToSeq,
      agent: JSON.stringify(loaded.agent),
      ...NOTHING_YET,
      error_code: null,
      error_msg: null,
      created_at: now,

      finished_at: null,
      deadline: null,
      d1_dirty: 1,
      ...TOP_LEVEL,
    };
    this.insertRow(row);
    const live = this.track(row, loaded.agent);
    live.memories = loaded.memories;
    const stream = input.stream ? this.listen(row.run_id, null) : undefined;
    if (row.status === 'running') this.begin(live, row);
    else live.d1 = this.writeD1(row.run_id);
    // The model call is already under way: answering only once D1 has the row costs the client
    // no time to first token, and GET /runs/{run_id} never misses a run it was just told about.
    await live.d1;
    return { ok: true, run: { ...this.started(this.row(row.run_id) ?? row, false), stream } };
  }

  private started(row: RunRow, joined: boolean): StartedRun {
    return { run_id: row.run_id, chat_id: this.host.chatId(), agent_id: row.agent_id, status: row.status, joined };
  }

  /** A repeated client_id: the run that answers the first attempt's message (and its stream). */
  private joinByClientId(input: StartRunInput): Result<{ run: StartedRun }> | null {
    const msg = store.findByClientId(this.host.sql, input.userId, input.message!.clientId!);
    if (!msg) return null;
    const row = this.host.sql
      .exec<RunRow>('SELECT * FROM runs WHERE reply_to_seq = ? ORDER BY created_at LIMIT 1', msg.seq)
      .toArray()[0];
    if (!row) return null;
    const stream = input.stream ? this.listen(row.run_id, null) : undefined;
    return { ok: true, run: { ...this.started(row, true), stream } };
  }

  /** A chat message's run refused at admission: recorded as failed (here and in D1), and the sockets are told. */
  private failedAtAdmission(input: StartRunInput, workspaceId: string, f: Failure): Result<{ run: StartedRun }> {
    const now = Date.now();
    const row: RunRow = {
      run_id: newId(),
      agent_id: input.agentId,
      user_id: input.userId,
      workspace_id: workspaceId,
      status: 'failed',
      trigger: input.trigger,
      reply_to_seq: input.replyToSeq ?? null,
      agent: '{}',
      ...NOTHING_YET,
      error_code: f.code,
      error_msg: f.msg,
      created_at: now,

      finished_at: now,
      deadline: null,
      d1_dirty: 1,
      ...TOP_LEVEL,
    };
    this.insertRow(row);
    this.sendFrame({ type: 'run.failed', run_id: row.run_id, code: f.code, msg: f.msg }, true);
    void this.writeD1(row.run_id);
    return { ok: true, run: this.started(row, false) };
  }

  private insertRow(r: RunRow) {
    const cols = Object.keys(r);
    this.host.sql.exec(`INSERT INTO runs (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`, ...cols.map((c) => r[c]));
  }

  private track(row: RunRow, agent: RunAgent): LiveRun {
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const live: LiveRun = {
      id: row.run_id,
      agentId: row.agent_id,
      agent,
      controller: new AbortController(),
      text: '',
      bytes: 0,
      pendingDelta: '',
      lastDeltaAt: 0,
      deltaTimer: undefined,
      lastCheckpoint: Date.now(),
      firstTokenAt: null,
      listeners: new Set(),
      done,
      resolveDone,
      d1: Promise.resolve(),
      sub: row.parent_run_id !== null,
    };
    this.live.set(row.run_id, live);
    return live;
  }

  /** queued → running: the row, the frames, D1, the deadline, then the model call. */
  private begin(live: LiveRun, row: RunRow) {
    const cfg = this.host.cfg();
    const now = Date.now();
    const deadline = now + cfg.llm.maxRunMs;
    const contextSeq = this.host.messages.lastSeq();
    this.host.sql.exec(
      "UPDATE runs SET status = 'running', started_at = ?, deadline = ?, context_seq = ?, d1_dirty = 1 WHERE run_id = ?", now, deadline, contextSeq, row.run_id,
    );
    this.sendFrame({ type: 'run.started', run_id: row.run_id, agent_id: row.agent_id, reply_to_seq: row.reply_to_seq }, true);
    for (const l of live.listeners) l.send('0', this.startEvent(row));
    const timer = setTimeout(() => live.controller.abort('timeout' satisfies AbortReason), cfg.llm.maxRunMs);
    // The model call first: everything else here (D1, the alarm) happens while it is on its way.
    void this.execute(live, { ...row, status: 'running', started_at: now, deadline, context_seq: contextSeq }).finally(() => clearTimeout(timer));
    live.d1 = this.writeD1(row.run_id);
    void this.host.alarmBy(Math.min(deadline, now + RUN_HEARTBEAT_MS));
  }

  private startEvent(row: RunRow): RunEvent {
    return { type: 'start', session_id: this.host.chatId(), run_id: row.run_id, agent_id: row.agent_id };
  }

  // ---- executing --------------------------------------------------------------------------------

  /** The model sees the agent's system prompt and this chat's latest messages, never another chat's. */
  private context(live: LiveRun, uptoSeq: number): ModelMessage[] {
    const cfg = this.host.cfg();
    const rows = this.host.sql
      .exec<store.StoredMessage & Record<string, SqlStorageValue>>('SELECT * FROM messages WHERE seq <= ? ORDER BY seq DESC LIMIT ?', uptoSeq, cfg.agentContextMessages)
      .toArray()
      .reverse();
    const out: ModelMessage[] = [];
    if (live.agent.systemPrompt.trim()) out.push({ role: 'system', content: live.agent.systemPrompt });
    for (const m of rows) {
      if (m.role === 'agent') {
        out.push(m.sender_id === live.agentId ? { role: 'assistant', content: m.content } : { role: 'user', content: `[agent ${m.sender_id}] ${m.content}` });
      } else out.push({ role: m.role === 'system' ? 'system' : 'user', content: m.content });
    }
    return out;
  }

  /**
   * The run's loop: model → tools → model, up to AGENT_MAX_STEPS model calls, each one persisted
   * step (its row in run_steps, priced when it ends). The model sees the chat as it stood when the
   * run began (a sub-run: only its question), then this run's own tool rounds (its calls and their
   * results, kept in run_tool_calls). Tools run as the chat's owner (src/tools/builtin.ts); a
   * refused or failed call is a result the model reads. Text written in any step is part of the
   * one reply. A step whose calls wait (a client tool's output, a person's approval) pauses the
   * run, which resumes here from storage once they are answered.
   */
  private async execute(live: LiveRun, row: RunRow): Promise<void> {
    const cfg = this.host.cfg();
    const base = row.question === null ? this.context(live, row.context_seq ?? this.host.messages.lastSeq()) : this.questionContext(live, row.question);
    // The agent's memories of the user span chats (the one exception to "this chat only"), within MEMORY_PROMPT_MAX_BYTES.
    const memories =
      cfg.tools.memoryPromptMaxBytes > 0 ? await memoriesForPrompt(getDb(this.host.env), row.user_id, row.agent_id, cfg.tools.memoryPromptMaxBytes, live.memories) : '';
    if (memories) base.splice(base[0]?.role === 'system' ? 1 : 0, 0, { role: 'system', content: memories });
    // A sub-run cannot wait: nobody would answer it. Tools that wait for a person are not offered there.
    const offered = (t: { requires_approval?: boolean }) => !(live.sub && t.requires_approval);
    const builtins = (live.agent.tools ?? []).filter((t) => isBuiltin(t.name) && offered(t)).map((t) => builtinDefinition(t.name as BuiltinName));
    const mcp = (await this.mcpTools(live, row)).filter(offered);
    const clients = live.sub ? [] : clientTools(live.agent);
    const tools = [...builtins, ...mcp.map((m) => m.tool), ...clients];
    live.mcp = new Map(mcp.map((m) => [m.tool.name, m]));
    // A resumed run: the calls approved while it waited run first, then it goes on from its stored rounds.
    for (const c of this.host.sql.exec<ToolCallStored>("SELECT * FROM run_tool_calls WHERE run_id = ? AND status = 'approved' ORDER BY created_at", row.run_id)) {
      if (live.controller.signal.aborted) break;
      await this.performTool(live, row, c);
    }
    const rounds: ModelMessage[] = this.storedRounds(row.run_id);
    for (let step = row.step + 1; !live.controller.signal.aborted; step++) {
      const done = await this.step(live, step, [...base, ...rounds], tools);
      if (done.outcome) return this.finish(live, done.outcome);
      if (step >= cfg.tools.maxSteps) return this.finish(live, { status: 'completed', finish: 'length' });
      rounds.push({ role: 'assistant', content: done.text, toolCalls: done.toolCalls });
      let waits = false;
      for (const call of done.toolCalls) {
        if (live.controller.signal.aborted) break;
        if (clients.some((t) => t.name === call.name)) {
          this.recordCall(live, step, call, { kind: 'client', name: call.name, requiresApproval: false, available: true }, 'requires_action');
          waits = true;
          continue;
        }
        const target = this.target(live, call);
        const content = target.requiresApproval ? await this.awaitApproval(live, row, step, call, target) : await this.runTool(live, row, step, call, target);
        if (content === null) waits = true;
        else rounds.push({ role: 'tool', callId: call.id, name: call.name, content });
      }
      if (waits && !live.controller.signal.aborted) {
        if (this.waits(live.id).until !== null) return this.pause(live);
        // Every wait was answered while the step's other calls ran (a quick approval or client):
        // go on from storage, as a resumed run would (approved calls first).
        return this.execute(live, this.row(live.id)!);
      }
    }
    const reason = live.controller.signal.reason as AbortReason;
    if (reason === 'timeout') return this.finish(live, { status: 'failed', finish: 'error', error: fail('run_timeout', `The run took longer than LLM_MAX_RUN_MS (${cfg.llm.maxRunMs} ms)`) });
    if (reason === 'length') return this.finish(live, { status: 'completed', finish: 'length' });
    return this.finish(live, { status: 'cancelled', finish: 'cancelled' });
  }

  /** A sub-run's context: its agent's system prompt and the question it was asked. */
  private questionContext(live: LiveRun, question: string): ModelMessage[] {
    return [...(live.agent.systemPrompt.trim() ? [{ role: 'system' as const, content: live.agent.systemPrompt }] : []), { role: 'user', content: question }];
  }

  /**
   * One step: one model call, persisted at its start and end. It asks for at most
   * min(the agent's max_tokens, AGENT_MAX_OUTPUT_TOKENS) tokens, and is priced when it ends (see
   * the module comment: with the provider's usage, else estimated; nothing for a call that
   * produced neither). Answers the run's outcome when the run ends here, else the tool calls.
   */
  private async step(
    live: LiveRun,
    step: number,
    messages: ModelMessage[],
    tools: ModelTool[],
  ): Promise<{ outcome?: StepOutcome; text: string; toolCalls: ModelToolCall[] }> {
    const cfg = this.host.cfg();
    const { sql } = this.host;
    sql.exec("INSERT OR REPLACE INTO run_steps (run_id, step, status, started_at) VALUES (?, ?, 'running', ?)", live.id, step, Date.now());
    sql.exec('UPDATE runs SET step = ? WHERE run_id = ?', step, live.id);
    const model = live.agent.model;
    const textBefore = live.text.length;
    const cap = cfg.cost.maxOutputTokens;
    let outcome: StepOutcome | undefined;
    let finish: FinishReason;
    let answered = false;
    let reported: { input_tokens: number; output_tokens: number } | null = null;
    let toolCalls: ModelToolCall[] = [];
    try {
      const result = await callModel(cfg.llm, {
        model: model.name,
        messages,
        temperature: model.temperature,
        topP: model.top_p,
        maxTokens: Math.min(model.max_tokens ?? cap, cap),
        tools,
        signal: live.controller.signal,
        onDelta: (text) => this.delta(live, text),
      });
      answered = true;
      reported = result.usage;
      toolCalls = result.toolCalls;
      finish = result.finishReason;
      if (!toolCalls.length) outcome = { status: 'completed', finish: result.finishReason === 'tool_calls' ? 'stop' : result.finishReason };
    } catch (err) {
      const reason = live.controller.signal.aborted ? (live.controller.signal.reason as AbortReason) : null;
      if (reason === 'length') outcome = { status: 'completed', finish: 'length' };
      else if (reason === 'cancelled' || reason === 'deleted') outcome = { status: 'cancelled', finish: 'cancelled' };
      else if (reason === 'timeout') outcome = { status: 'failed', finish: 'error', error: fail('run_timeout', `The run took longer than LLM_MAX_RUN_MS (${cfg.llm.maxRunMs} ms)`) };
      else if (err instanceof ModelError) {
        outcome = { status: 'failed', finish: 'error', error: { ...fail(err.code, err.message), ...(err.extra.var ? { var: err.extra.var } : {}) } };
      } else {
        console.error(JSON.stringify({ msg: 'run failed', run_id: live.id, error: String(err) }));
        outcome = { status: 'failed', finish: 'error', error: fail('model_error', 'The model call failed unexpectedly') };
      }
      finish = outcome.finish;
    }
    const reply = live.text.slice(textBefore);
    const priced = answered || reply !== '' ? priceCall(cfg.cost.prices, model.name, reported, { prompt: promptText(messages), reply }) : null;
    sql.exec(
      `UPDATE run_steps SET status = ?, text = ?, input_tokens = ?, output_tokens = ?, cost_micros = ?, estimated = ?, unpriced = ?,
       finish_reason = ?, finished_at = ? WHERE run_id = ? AND step = ?`,
      outcome?.status ?? 'completed', reply, priced?.inputTokens ?? null, priced?.outputTokens ?? null, priced?.costMicros ?? null,
      priced?.estimated ? 1 : 0, priced?.unpriced ? 1 : 0, finish, Date.now(), live.id, step,
    );
    return { outcome, text: reply, toolCalls };
  }

  /** What a model's call names: the kind and the agent's entry, whether it needs approval, and whether this run may call it. */
  private target(live: LiveRun, call: ModelToolCall): ToolTarget {
    const mcp = live.mcp?.get(call.name);
    if (mcp) return { kind: 'mcp', name: mcp.entry, requiresApproval: mcp.requires_approval, available: true };
    const entry = isBuiltin(call.name) ? (live.agent.tools ?? []).find((t) => t.name === call.name) : undefined;
    const requiresApproval = entry?.requires_approval === true;
    return { kind: 'builtin', name: call.name, requiresApproval: requiresApproval && !live.sub, available: entry !== undefined && !(live.sub && requiresApproval) };
  }

  /** A tool call, recorded on the run (status: pending, or the wait it starts) and announced as run.tool_call. */
  private recordCall(live: LiveRun, step: number, call: ModelToolCall, target: ToolTarget, status: 'pending' | 'requires_action' | 'waiting_approval') {
    const now = Date.now();
    const waitsUntil = status === 'requires_action' ? now + this.host.cfg().tools.outputTimeoutSeconds * 1000 : null;
    this.host.sql.exec(
      'INSERT OR REPLACE INTO run_tool_calls (run_id, call_id, step, name, kind, arguments, status, created_at, waits_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      live.id, call.id, step, target.name, target.kind, call.arguments, status, now, waitsUntil,
    );
    this.announce(live, { type: 'run.tool_call', run_id: live.id, call_id: call.id, name: target.name, kind: target.kind, arguments: jsonOrText<Json>(call.arguments) });
  }

  /**
   * A call to a tool marked `requires_approval`: recorded as waiting and held by an approval in
   * D1 (src/approvals/service.ts createToolApproval, linked to the run and call), announced as
   * run.approval_required. Answers null while it waits; the text the model reads when it need
   * not (the approval could not be raised, or was already decided: a retried step).
   */
  private async awaitApproval(live: LiveRun, row: RunRow, step: number, call: ModelToolCall, target: ToolTarget): Promise<string | null> {
    const cfg = this.host.cfg();
    this.recordCall(live, step, call, target, 'waiting_approval');
    let approval: Awaited<ReturnType<typeof createToolApproval>>;
    try {
      approval = await createToolApproval(getDb(this.host.env), {
        userId: row.user_id,
        runId: live.id,
        chatId: this.host.chatId(),
        callId: call.id,
        tool: target.name,
        arguments: jsonOrText<Json>(call.arguments),
        title: `${live.agent.name} asks to call ${target.name}`.slice(0, 200),
        now: Date.now(),
        timeoutSeconds: cfg.tools.approvalTimeoutSeconds,
      });
    } catch (err) {
      console.error(JSON.stringify({ msg: 'approval request failed', run_id: live.id, call_id: call.id, error: String(err) }));
      return this.settle(live, call.id, { ok: false, error: 'The approval could not be requested (a storage error); try again later' });
    }
    if (approval.status === 'approved') return this.performTool(live, row, this.storedCall(live.id, call.id)!);
    if (approval.status !== 'pending') return this.settle(live, call.id, { ok: false, error: refusalText(approval.status, approval.reason) });
    this.host.sql.exec(
      'UPDATE run_tool_calls SET approval_id = ?, waits_until = ? WHERE run_id = ? AND call_id = ?', approval.id, (approval.expiresAt ?? Date.now()) + APPROVAL_GRACE_MS, live.id, call.id,
    );
    this.announce(live, { type: 'run.approval_required', run_id: live.id, call_id: call.id, approval_id: approval.id, name: target.name, arguments: jsonOrText<Json>(call.arguments) });
    return null;
  }

  private storedCall(runId: string, callId: string): ToolCallStored | null {
    return this.host.sql.exec<ToolCallStored>('SELECT * FROM run_tool_calls WHERE run_id = ? AND call_id = ?', runId, callId).toArray()[0] ?? null;
  }

  /**
   * The run's waits, from its calls still waiting: `requires_action` while a client tool's output
   * is missing (those fail the run after TOOL_OUTPUT_TIMEOUT_SECONDS), else `waiting_approval`
   * (until the approvals' expiry, APPROVAL_TIMEOUT_SECONDS, and a little more for D1's clock).
   * `until`: when the alarm must look again; null: nothing waits.
   */
  private waits(runId: string) {
    const calls = this.host.sql.exec<ToolCallStored>(`SELECT * FROM run_tool_calls WHERE run_id = ? AND status IN ${CALL_WAITING} ORDER BY created_at`, runId).toArray();
    const clients = calls.filter((c) => c.status === 'requires_action');
    const approvals = calls.filter((c) => c.status === 'waiting_approval');
    return {
      status: (clients.length ? 'requires_action' : 'waiting_approval') as 'requires_action' | 'waiting_approval',
      until: calls.length ? Math.min(...calls.map((c) => c.waits_until ?? 0)) : null,
      clients,
      approvals,
    };
  }

  /**
   * The run waits (for client tool outputs, OpenAI's "requires action", or approvals): it leaves
   * memory (its state is all in storage), SSE listeners get `requires_action` or
   * `waiting_approval` and their stream ends, and the alarm looks again when a wait ends.
   */
  private async pause(live: LiveRun) {
    const w = this.waits(live.id);
    this.flushDelta(live);
    const row = this.host.sql
      .exec<RunRow>(
        'UPDATE runs SET status = ?, text = ?, first_token_at = ?, waiting_until = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *',
        w.status, live.text, live.firstTokenAt, w.until, live.id,
      )
      .one();
    const event = this.waitEvent(row);
    for (const l of live.listeners) {
      l.send(String(row.text.length), event);
      l.end();
    }
    this.live.delete(live.id);
    await live.d1;
    await this.writeD1(live.id);
    live.resolveDone();
    if (w.until !== null) await this.host.alarmBy(w.until);
  }

  /** The event that ends a waiting run's stream: the calls it waits on. */
  private waitEvent(row: RunRow): RunEvent {
    const w = this.waits(row.run_id);
    if (row.status === 'requires_action') {
      return { type: 'requires_action', run_id: row.run_id, tool_calls: w.clients.map((c) => ({ call_id: c.call_id, name: c.name, arguments: jsonOrText<Json>(c.arguments) })) };
    }
    return {
      type: 'waiting_approval',
      run_id: row.run_id,
      approvals: w.approvals.map((c) => ({ approval_id: c.approval_id ?? '', call_id: c.call_id, name: c.name, arguments: jsonOrText<Json>(c.arguments) })),
    };
  }

  /**
   * The client's outputs for a run in `requires_action` (POST /runs/{run_id}/tool-outputs). Every
   * call_id must be one the run waits on (else nothing is written); once nothing of the step waits
   * any more, the run resumes from its stored steps.
   */
  async submitToolOutputs(runId: string, outputs: { call_id: string; output: string }[], stream: boolean): Promise<Result<{ run: StartedRun; waiting: string[] }>> {
    const { sql } = this.host;
    const row = this.row(runId);
    if (!row) return fail('run_not_found');
    // `running`: a client that answers a call while the step's other calls still run; the run
    // finds the output when the step ends.
    if (row.status !== 'requires_action' && row.status !== 'running') return fail('run_not_waiting');
    const pending = new Set(this.waits(runId).clients.map((c) => c.call_id));
    if (row.status === 'running' && pending.size === 0) return fail('run_not_waiting');
    const unknown = outputs.find((o) => !pending.has(o.call_id));
    if (unknown) return fail('tool_call_not_found', `The run is not waiting on a call ${JSON.stringify(unknown.call_id)}`);
    const now = Date.now();
    for (const o of outputs) {
      sql.exec("UPDATE run_tool_calls SET status = 'completed', output = ?, finished_at = ? WHERE run_id = ? AND call_id = ?", JSON.stringify(o.output), now, runId, o.call_id);
      this.sendFrame({ type: 'run.tool_result', run_id: runId, call_id: o.call_id, output: o.output }, false);
    }
    if (row.status === 'running') {
      const stream_ = stream ? this.listen(runId, String(this.live.get(runId)?.text.length ?? row.text.length)) : undefined;
      return { ok: true, run: { ...this.started(row, false), stream: stream_ }, waiting: this.waits(runId).clients.map((c) => c.call_id) };
    }
    return this.resumeIfAnswered(runId, stream);
  }

  /**
   * A person decided (or the expiry ended) an approval holding one of the run's calls
   * (ChatRoom.approvalDecided, from src/approvals/service.ts notifyRun, or this object's alarm).
   * Approved, the call runs when the run resumes; rejected or expired, the model reads that it
   * was refused. Idempotent: a call no longer waiting on that approval is left as it is.
   */
  async approvalDecided(runId: string, callId: string, d: { approvalId: string; status: 'approved' | 'rejected' | 'expired'; reason: string | null }): Promise<Result> {
    const row = this.row(runId);
    const call = this.storedCall(runId, callId);
    if (!row || !call || call.status !== 'waiting_approval' || call.approval_id !== d.approvalId) return { ok: true };
    if (d.status === 'approved') this.host.sql.exec("UPDATE run_tool_calls SET status = 'approved' WHERE run_id = ? AND call_id = ?", runId, callId);
    else {
      const error = refusalText(d.status, d.reason);
      this.host.sql.exec("UPDATE run_tool_calls SET status = 'refused', error = ?, finished_at = ? WHERE run_id = ? AND call_id = ?", error, Date.now(), runId, callId);
      this.sendFrame({ type: 'run.tool_result', run_id: runId, call_id: callId, error }, false);
    }
    if (isWaitingRun(row.status)) await this.resumeIfAnswered(runId, false);
    return { ok: true };
  }

  /**
   * After an answer to one of a waiting run's calls: while others still wait, the run stays (its
   * status and wait's end updated); once none does, it resumes from storage and goes on.
   */
  private async resumeIfAnswered(runId: string, stream: boolean): Promise<Result<{ run: StartedRun; waiting: string[] }>> {
    const { sql } = this.host;
    const w = this.waits(runId);
    const now = Date.now();
    if (w.until !== null) {
      const row = sql.exec<RunRow>('UPDATE runs SET status = ?, waiting_until = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *', w.status, w.until, runId).one();
      void this.writeD1(runId);
      await this.host.alarmBy(w.until);
      return { ok: true, run: this.started(row, false), waiting: w.clients.map((c) => c.call_id) };
    }
    const cfg = this.host.cfg();
    const deadline = now + cfg.llm.maxRunMs;
    const resumed = sql
      .exec<RunRow>("UPDATE runs SET status = 'running', waiting_until = NULL, deadline = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *", deadline, runId)
      .one();
    const live = this.track(resumed, JSON.parse(resumed.agent) as RunAgent);
    live.text = resumed.text;
    live.bytes = encoder.encode(resumed.text).byteLength;
    live.firstTokenAt = resumed.first_token_at;
    const listened = stream ? this.listen(runId, String(resumed.text.length)) : undefined;
    const timer = setTimeout(() => live.controller.abort('timeout' satisfies AbortReason), cfg.llm.maxRunMs);
    void this.execute(live, resumed).finally(() => clearTimeout(timer));
    live.d1 = this.writeD1(runId);
    void this.host.alarmBy(Math.min(deadline, now + RUN_HEARTBEAT_MS));
    return { ok: true, run: { ...this.started(resumed, false), stream: listened }, waiting: [] };
  }

  /**
   * The alarm's look at a waiting run whose wait ended: a client output still missing fails the
   * run (`run_timeout`); an approval still undecided here is read from D1 (a notification may
   * have been lost), expired there if its time is up, and its outcome applied.
   */
  private async endWait(row: RunRow, now: number) {
    const w = this.waits(row.run_id);
    if (w.clients.some((c) => (c.waits_until ?? 0) <= now)) {
      const seconds = Math.round(((w.clients[0].waits_until ?? 0) - w.clients[0].created_at) / 1000);
      return this.endUnstarted(row, 'failed', 'run_timeout', `No tool outputs came within TOOL_OUTPUT_TIMEOUT_SECONDS (${seconds} s)`);
    }
    const db = getDb(this.host.env);
    for (const c of w.approvals) {
      if (!c.approval_id) continue;
      try {
        const a = (await expireOne(db, row.user_id, c.approval_id, now)) ?? (await findUserApproval(db, row.user_id, c.approval_id));
        if (a && a.status !== 'pending') await this.approvalDecided(row.run_id, c.call_id, { approvalId: a.id, status: a.status, reason: a.reason });
      } catch (err) {
        console.error(JSON.stringify({ msg: 'approval check failed', run_id: row.run_id, approval_id: c.approval_id, error: String(err) }));
      }
    }
    // Still waiting (D1 did not answer, or its clock is behind): look again soon.
    const after = this.row(row.run_id);
    if (after && isWaitingRun(after.status) && after.waiting_until !== null && after.waiting_until <= now) {
      this.host.sql.exec('UPDATE runs SET waiting_until = ? WHERE run_id = ?', now + D1_RETRY_MS, row.run_id);
    }
  }

  /** A run's tool rounds so far, from storage: each step's text and calls, then each call's result as the model reads it. */
  private storedRounds(runId: string): ModelMessage[] {
    const { sql } = this.host;
    const calls = sql.exec<ToolCallStored>('SELECT * FROM run_tool_calls WHERE run_id = ? ORDER BY step, created_at', runId).toArray();
    if (!calls.length) return [];
    const max = this.host.cfg().tools.outputMaxBytes;
    const texts = new Map(sql.exec<{ step: number; text: string }>('SELECT step, text FROM run_steps WHERE run_id = ?', runId).toArray().map((r) => [r.step, r.text]));
    const out: ModelMessage[] = [];
    for (const step of [...new Set(calls.map((c) => c.step))]) {
      const mine = calls.filter((c) => c.step === step);
      out.push({ role: 'assistant', content: texts.get(step) ?? '', toolCalls: mine.map((c) => ({ id: c.call_id, name: modelToolName(c), arguments: c.arguments })) });
      for (const c of mine) {
        // Stored as JSON; a client's output is its text, the others' results are JSON to the model.
        const output = c.kind === 'client' ? String(jsonOrText<Json>(c.output ?? '""')) : (c.output ?? '');
        const content = c.status === 'completed' ? output : `Error: ${c.error ?? 'no result'}`;
        out.push({ role: 'tool', callId: c.call_id, name: modelToolName(c), content: capText(content, max) });
      }
    }
    return out;
  }

  /**
   * The agent's MCP tools (`mcp:<server-slug>:<tool>` entries), resolved now against the owner's
   * running servers (a stopped server's or an unknown tool is simply not offered). The model sees
   * each as `mcp__<slug>__<tool>` (tool names allow no colons), with the schema the server listed.
   */
  private async mcpTools(live: LiveRun, row: RunRow): Promise<McpOffer[]> {
    const wanted = (live.agent.tools ?? []).flatMap((t) => {
      const m = MCP_ENTRY.exec(t.name);
      return m ? [{ entry: t.name, slug: m[1], tool: m[2], requires_approval: t.requires_approval === true }] : [];
    });
    if (!wanted.length) return [];
    const servers = await mcpToolsFor(getDb(this.host.env), row.user_id, wanted.map((w) => w.slug));
    return wanted.flatMap((w) => {
      const listed = servers.find((s) => s.slug === w.slug)?.tools.find((t) => t.name === w.tool);
      if (!listed) return [];
      const parameters = (listed.input_schema ?? { type: 'object' }) as Record<string, unknown>;
      return [{ entry: w.entry, requires_approval: w.requires_approval, tool: { name: mcpModelName(w.slug, w.tool), description: listed.description ?? undefined, parameters } }];
    });
  }

  /** A call that runs now: recorded and announced, then run (performTool). */
  private async runTool(live: LiveRun, row: RunRow, step: number, call: ModelToolCall, target: ToolTarget): Promise<string> {
    this.recordCall(live, step, call, target, 'pending');
    if (!target.available) return this.settle(live, call.id, { ok: false, error: `No tool named ${JSON.stringify(call.name)} is available to this agent` });
    return this.performTool(live, row, this.storedCall(live.id, call.id)!);
  }

  /**
   * Runs a recorded call (now, or once approved): a built-in as the chat's owner, an MCP tool on
   * the owner's server; its result is recorded and announced (settle).
   */
  private async performTool(live: LiveRun, row: RunRow, c: ToolCallStored): Promise<string> {
    const db = getDb(this.host.env);
    let result: ToolResult;
    const mcp = c.kind === 'mcp' ? MCP_ENTRY.exec(c.name) : null;
    if (mcp) {
      const args = jsonOrText<Json>(c.arguments);
      const called =
        args !== null && typeof args === 'object' && !Array.isArray(args)
          ? await callMcpTool({ db, env: this.host.env }, row.user_id, mcp[1], mcp[2], args)
          : ({ ok: false, error: 'Invalid arguments: a JSON object is expected' } as const);
      result = called.ok ? { ok: true, output: called.output } : called;
    } else if (isBuiltin(c.name)) {
      result = await runBuiltin(c.name, c.arguments, {
        db,
        userId: row.user_id,
        agentId: row.agent_id,
        workspaceId: row.workspace_id,
        askAgent: (args) => this.askAgent(live, row, args),
      });
    } else result = { ok: false, error: `No tool named ${JSON.stringify(c.name)} is available to this agent` };
    return this.settle(live, c.call_id, result);
  }

  /** A call's result: recorded, announced (run.tool_result), and answered as the text the model reads (capped at TOOL_OUTPUT_MAX_BYTES). */
  private settle(live: LiveRun, callId: string, result: ToolResult): string {
    this.host.sql.exec(
      'UPDATE run_tool_calls SET status = ?, output = ?, error = ?, finished_at = ? WHERE run_id = ? AND call_id = ?',
      result.ok ? 'completed' : 'failed', result.ok ? JSON.stringify(result.output) : null, result.ok ? null : result.error, Date.now(), live.id, callId,
    );
    this.announce(
      live,
      result.ok ? { type: 'run.tool_result', run_id: live.id, call_id: callId, output: result.output as Json } : { type: 'run.tool_result', run_id: live.id, call_id: callId, error: result.error },
    );
    return capText(result.ok ? JSON.stringify(result.output) : `Error: ${result.error}`, this.host.cfg().tools.outputMaxBytes);
  }

  /**
   * Delegation (`ask_agent`): another agent of the chat's workspace answers `question` in a
   * sub-run, here and now, whose answer is the call's result. A sub-run is a run of its own
   * (trigger `agent`, `parent_run_id`, `depth`; its steps priced to the same user), admitted like
   * any run (the agent live and in the workspace, its model allowed, the budget not spent) and
   * bounded: AGENT_MAX_DEPTH levels, AGENT_MAX_SUBRUNS per run. Its context is its system prompt
   * and the question only; it stores no chat message, sends no frames, and cannot wait (tools
   * that wait for a person are not offered to it). Cancelling or timing out the parent ends it.
   */
  private async askAgent(parent: LiveRun, parentRow: RunRow, args: AskAgentArgs): Promise<ToolResult> {
    const cfg = this.host.cfg();
    const { sql } = this.host;
    if (parentRow.depth >= cfg.tools.maxDepth) {
      return { ok: false, error: `Delegation goes at most AGENT_MAX_DEPTH (${cfg.tools.maxDepth}) levels deep: answer this yourself` };
    }
    const asked = sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM runs WHERE parent_run_id = ?', parent.id).one().n;
    if (asked >= cfg.tools.maxSubruns) return { ok: false, error: `This run has asked other agents AGENT_MAX_SUBRUNS (${cfg.tools.maxSubruns}) times already` };
    if (args.agent_id === parentRow.agent_id) return { ok: false, error: 'An agent cannot ask itself' };
    const loaded = await loadRunAgent(getDb(this.host.env), this.host.chatId(), args.agent_id);
    if (!loaded.chat || loaded.chat.ownerId !== parentRow.user_id) return { ok: false, error: 'The chat is gone' };
    if (!loaded.agent) return { ok: false, error: loaded.failure.msg };
    const refusal = admit(cfg.cost, loaded.agent, loaded.spend);
    if (refusal) return { ok: false, error: refusal.msg };
    if (parent.controller.signal.aborted) return { ok: false, error: 'The run was stopped' };
    const now = Date.now();
    const row: RunRow = {
      run_id: newId(),
      agent_id: loaded.agent.agentId,
      user_id: parentRow.user_id,
      workspace_id: parentRow.workspace_id,
      status: 'running',
      trigger: 'agent',
      reply_to_seq: null,
      agent: JSON.stringify(loaded.agent),
      ...NOTHING_YET,
      started_at: now,
      error_code: null,
      error_msg: null,
      created_at: now,
      finished_at: null,
      deadline: parentRow.deadline,
      d1_dirty: 1,
      parent_run_id: parent.id,
      depth: parentRow.depth + 1,
      question: args.question,
    };
    this.insertRow(row);
    const live = this.track(row, loaded.agent);
    live.memories = loaded.memories;
    const stop = () => live.controller.abort(parent.controller.signal.reason);
    parent.controller.signal.addEventListener('abort', stop, { once: true });
    live.d1 = this.writeD1(row.run_id);
    try {
      await this.execute(live, row);
    } finally {
      parent.controller.signal.removeEventListener('abort', stop);
    }
    const end = this.row(row.run_id)!;
    if (end.status === 'completed') return { ok: true, output: { run_id: end.run_id, agent_id: end.agent_id, answer: end.text } };
    return { ok: false, error: `The agent's run (${end.run_id}) ended ${end.status}${end.error_msg ? `: ${end.error_msg}` : ''}` };
  }
  /** A tool frame to every socket (pending text first, so the order holds) and every SSE listener. */
  private announce(live: LiveRun, frame: Extract<RunFrame, { type: 'run.tool_call' | 'run.tool_result' | 'run.approval_required' }>) {
    if (live.sub) return;
    this.flushDelta(live);
    this.sendFrame(frame, false);
    const id = String(live.text.length);
    for (const l of live.listeners) l.send(id, frame);
  }

  /** A piece of the reply: kept, checkpointed now and then, and sent (sockets coalesced, SSE at once). */
  private delta(live: LiveRun, text: string) {
    if (text === '' || live.controller.signal.aborted) return;
    const cfg = this.host.cfg();
    const now = Date.now();
    live.firstTokenAt ??= now;
    let bytes = encoder.encode(text).byteLength;
    let truncated = false;
    if (live.bytes + bytes > cfg.agentReplyMaxBytes) {
      text = fitBytes(text, cfg.agentReplyMaxBytes - live.bytes);
      bytes = encoder.encode(text).byteLength;
      truncated = true;
    }
    if (text !== '') {
      live.text += text;
      live.bytes += bytes;
      const id = String(live.text.length);
      for (const l of live.listeners) l.send(id, { type: 'token', content: text });
      // A sub-run's text is its parent's tool result, not a reply in the chat.
      if (!live.sub) {
        live.pendingDelta += text;
        this.scheduleDelta(live, now);
      }
      if (now - live.lastCheckpoint >= cfg.runCheckpointMs) {
        live.lastCheckpoint = now;
        this.host.sql.exec('UPDATE runs SET text = ?, first_token_at = ? WHERE run_id = ?', live.text, live.firstTokenAt, live.id);
      }
    }
    if (truncated) live.controller.abort('length' satisfies AbortReason);
  }

  /** At most one run.delta per socket per RUN_DELTA_WINDOW_MS: the first at once, the rest at the window's end. */
  private scheduleDelta(live: LiveRun, now: number) {
    if (live.deltaTimer !== undefined) return;
    const wait = live.lastDeltaAt + this.host.cfg().runDeltaWindowMs - now;
    if (wait <= 0) this.flushDelta(live);
    else live.deltaTimer = setTimeout(() => this.flushDelta(live), wait);
  }

  private flushDelta(live: LiveRun) {
    if (live.deltaTimer !== undefined) clearTimeout(live.deltaTimer);
    live.deltaTimer = undefined;
    if (live.pendingDelta === '') return;
    const frame: RunFrame = { type: 'run.delta', run_id: live.id, text: live.pendingDelta };
    live.pendingDelta = '';
    live.lastDeltaAt = Date.now();
    this.sendFrame(frame, false);
  }

  /**
   * Before a socket joins: every run's pending text goes out to the sockets already there, so
   * the joiner's snapshot (the text so far) and the deltas after it add up to the reply exactly.
   */
  flushAll() {
    for (const live of this.live.values()) this.flushDelta(live);
  }

  /** The run.started frames of the runs answering now (a Socket.IO client that joins hears them as chat_information). */
  running(): Extract<RunFrame, { type: 'run.started' }>[] {
    const rows = [...this.live.values()].filter((live) => !live.sub).map((live) => this.row(live.id)).filter((row) => row?.status === 'running');
    return rows.map((row) => ({ type: 'run.started', run_id: row!.run_id, agent_id: row!.agent_id, reply_to_seq: row!.reply_to_seq }));
  }

  /** A socket that just joined: each live run's run.started, then its text so far as one run.delta. */
  greet(ws: WebSocket) {
    for (const live of this.live.values()) {
      const row = this.row(live.id);
      if (!row || row.status !== 'running' || live.sub) continue;
      ws.send(JSON.stringify({ type: 'run.started', run_id: row.run_id, agent_id: row.agent_id, reply_to_seq: row.reply_to_seq } satisfies RunFrame));
      if (live.text !== '') ws.send(JSON.stringify({ type: 'run.delta', run_id: live.id, text: live.text } satisfies RunFrame));
    }
  }

  /**
   * run.* frames go to every socket (batch=1 does not hold them). Frames that bracket stored
   * messages first flush the batch sockets' pending messages, so they arrive in order.
   */
  private sendFrame(frame: RunFrame, flushMessages: boolean) {
    if (this.host.isDead()) return;
    if (flushMessages) this.host.fanout.flush();
    this.host.fanout.sendRun(frame);
  }

  // ---- finishing --------------------------------------------------------------------------------

  /**
   * The end of a run: the reply (any non-empty text, also of a cancelled run) stored as the
   * agent's message, the frames, the SSE end, D1, then the agent's queued follow-up, if any.
   */
  private async finish(live: LiveRun, o: { status: 'completed' | 'cancelled' | 'failed'; finish: FinishReason; error?: Failure }) {
    const { sql } = this.host;
    const now = Date.now();
    const dead = this.host.isDead();
    this.flushDelta(live);
    let replyId: string | null = null;
    if (!dead && !live.sub && live.text !== '' && o.status !== 'failed') {
      const stored = this.host.messages.insert({
        message_id: newId(), sender_id: live.agentId, role: 'agent', content: live.text, created_at: now, client_id: null,
      })!;
      replyId = stored.message_id;
      this.host.fanout.broadcast(store.messageJson(this.host.chatId(), stored));
    }
    this.closeCalls(live.id, now);
    // A deleted chat's runs end cancelled, saying why (its storage is deleted right after).
    const code = o.error?.code ?? (dead ? 'chat_not_found' : null);
    const msg = o.error?.msg ?? (dead ? 'The chat was deleted' : null);
    // The run's usage and cost: the sums of its priced steps (null when none was priced).
    const t = sql
      .exec<{ n: number; i: number | null; o: number | null; c: number | null; e: number | null; u: number | null }>(
        `SELECT COUNT(*) AS n, SUM(input_tokens) AS i, SUM(output_tokens) AS o, SUM(cost_micros) AS c, MAX(estimated) AS e, MAX(unpriced) AS u
         FROM run_steps WHERE run_id = ? AND cost_micros IS NOT NULL`,
        live.id,
      )
      .one();
    const finalRow = sql
      .exec<RunRow>(
        `UPDATE runs SET status = ?, text = ?, reply_message_id = ?, input_tokens = ?, output_tokens = ?, cost_micros = ?, estimated = ?,
         unpriced = ?, finish_reason = ?, error_code = ?, error_msg = ?, first_token_at = ?, finished_at = ?, d1_dirty = 1
         WHERE run_id = ? RETURNING *`,
        o.status, live.text, replyId, t.n ? t.i : null, t.n ? t.o : null, t.n ? t.c : null, t.e ?? 0, t.u ?? 0,
        o.finish, code, msg, live.firstTokenAt, now, live.id,
      )
      .one();
    const frame: RunFrame = o.status === 'failed'
      ? { type: 'run.failed', run_id: live.id, code: code!, msg: msg! }
      : { type: 'run.finished', run_id: live.id, status: o.status, usage: usageOf(finalRow) };
    if (!live.sub) this.sendFrame(frame, true);
    this.end(live, finalRow);
    await live.d1;
    await this.writeD1(live.id);
    live.resolveDone();
    if (!dead && !live.sub) void this.startNext(live.agentId);
  }

  /** A run that ends with calls still waiting (cancelled, timed out): they end as failed, never to run. */
  private closeCalls(runId: string, now: number) {
    this.host.sql.exec(
      "UPDATE run_tool_calls SET status = 'failed', error = 'The run ended before this call ran', finished_at = ? WHERE run_id = ? AND status IN ('pending', 'requires_action', 'waiting_approval', 'approved')",
      now, runId,
    );
  }

  /** The SSE listeners get the last event and the run is no longer live here. */
  private end(live: LiveRun, row: RunRow) {
    const endId = String(row.text.length + 1);
    for (const l of live.listeners) {
      l.send(endId, this.endEvent(row));
      l.end();
    }
    this.live.delete(live.id);
  }

  private endEvent(row: RunRow): RunEvent {
    if (isWaitingRun(row.status)) return this.waitEvent(row);
    if (row.status === 'failed') return { type: 'error', run_id: row.run_id, code: row.error_code ?? 'model_error', msg: row.error_msg ?? '' };
    return { type: 'end', run_id: row.run_id, status: row.status === 'cancelled' ? 'cancelled' : 'completed', message_id: row.reply_message_id, metadata: metadataOf(row) };
  }

  /**
   * The agent's queued follow-up run, if any, starts now: admitted again first (the allow-list
   * and the budget may have changed while it waited; one D1 read), and failed with the refusal's
   * code if it is refused. If D1 cannot answer, it stays queued and the alarm tries again.
   */
  private async startNext(agentId: string) {
    const next = this.liveRows(agentId).find((r) => r.status === 'queued');
    if (!next || this.admitting.has(next.run_id) || this.liveRows(agentId).some((r) => r.status === 'running')) return;
    const agent = JSON.parse(next.agent) as RunAgent;
    let refusal: Failure | null;
    this.admitting.add(next.run_id);
    try {
      refusal = admit(this.host.cfg().cost, agent, await loadSpend(getDb(this.host.env), next.user_id));
    } catch (err) {
      console.error(JSON.stringify({ msg: 'follow-up admission failed', run_id: next.run_id, error: String(err) }));
      if (!this.host.isDead()) void this.host.alarmBy(Date.now() + D1_RETRY_MS);
      return;
    } finally {
      this.admitting.delete(next.run_id);
    }
    // While D1 answered, the run may have been cancelled, the chat deleted, or another started.
    const row = this.row(next.run_id);
    if (!row || row.status !== 'queued' || this.host.isDead() || this.liveRows(agentId).some((r) => r.status === 'running')) return;
    const live = this.live.get(row.run_id) ?? this.track(row, agent);
    if (refusal) await this.endUnstarted(row, 'failed', refusal.code, refusal.msg);
    else this.begin(live, row);
  }

  // ---- D1 ---------------------------------------------------------------------------------------

  /**
   * Writes the run's stored state to D1; a failure leaves it dirty for the alarm to retry. A
   * final run's write is one batch: its row, its priced steps' ledger rows and the budget
   * thresholds they crossed (all idempotent, so a retry after a lost answer is harmless).
   */
  private async writeD1(runId: string): Promise<void> {
    const row = this.row(runId);
    if (!row) return;
    try {
      const db = getDb(this.host.env);
      const chatId = this.host.chatId();
      const upsert = upsertRunStatement(db, d1Row(chatId, row));
      const steps = isLiveRun(row.status)
        ? []
        : this.host.sql.exec<StepRow>('SELECT * FROM run_steps WHERE run_id = ? AND cost_micros IS NOT NULL ORDER BY step', runId).toArray();
      const calls = isLiveRun(row.status) ? [] : this.toolCallStatements(db, row);
      if (steps.length === 0 && calls.length === 0) await upsert;
      else if (steps.length === 0) await db.batch([upsert, ...calls]);
      else {
        const model = (JSON.parse(row.agent) as Partial<RunAgent>).model;
        const ledger = steps.map((s) =>
          insertUsageStatement(db, {
            id: `${runId}:${s.step}`,
            userId: row.user_id,
            runId,
            agentId: row.agent_id,
            chatId,
            provider: model?.provider ?? 'openai-compatible',
            model: model?.name ?? '',
            inputTokens: s.input_tokens,
            outputTokens: s.output_tokens,
            costMicros: s.cost_micros,
            estimated: s.estimated === 1,
            unpriced: s.unpriced === 1,
            createdAt: s.finished_at,
          }),
        );
        // The crossings are judged in the month the run ended in, with the ledger rows just written.
        await db.batch([upsert, ...ledger, ...this.toolCallStatements(db, row), recordCrossingsStatement(db, row.user_id, row.finished_at ?? Date.now())]);
      }
      if (!this.host.isDead()) this.host.sql.exec('UPDATE runs SET d1_dirty = 0 WHERE run_id = ? AND status = ?', runId, row.status);
    } catch (err) {
      console.error(JSON.stringify({ msg: 'run row write failed', run_id: runId, error: String(err) }));
      if (!this.host.isDead()) void this.host.alarmBy(Date.now() + D1_RETRY_MS);
    }
  }

  /** The run's tool calls as D1 statements (idempotent upserts), written with its final row. */
  private toolCallStatements(db: ReturnType<typeof getDb>, row: RunRow) {
    return this.host.sql
      .exec<ToolCallStored>('SELECT * FROM run_tool_calls WHERE run_id = ? ORDER BY step, created_at', row.run_id)
      .toArray()
      .map((c) =>
        upsertToolCallStatement(db, {
          runId: c.run_id,
          callId: c.call_id,
          userId: row.user_id,
          step: c.step,
          name: c.name,
          kind: c.kind,
          arguments: c.arguments,
          status: c.status,
          output: c.output,
          error: c.error,
          approvalId: c.approval_id,
          createdAt: c.created_at,
          finishedAt: c.finished_at,
        }),
      );
  }

  // ---- control ----------------------------------------------------------------------------------

  /** Cancels a live run: its model call is aborted and any partial text stored. Answers its final state. */
  async cancel(runId: string): Promise<Result<{ outcome: RunOutcome }>> {
    const row = this.row(runId);
    if (!row) return fail('run_not_found');
    if (!(UNFINISHED_RUN_STATUSES as readonly RunStatus[]).includes(row.status)) return fail('run_not_active');
    const live = this.live.get(runId);
    if (row.status === 'running' && live) {
      live.controller.abort('cancelled' satisfies AbortReason);
      await live.done;
    } else await this.endUnstarted(row, 'cancelled', null, null);
    return { ok: true, outcome: this.outcomeOf(this.row(runId)!) };
  }

  /** A queued (or orphaned) run has no model call to abort: it just ends. */
  private async endUnstarted(row: RunRow, status: 'cancelled' | 'failed', code: string | null, msg: string | null) {
    this.closeCalls(row.run_id, Date.now());
    const sub = row.parent_run_id !== null;
    const finalRow = this.host.sql
      .exec<RunRow>(
        `UPDATE runs SET status = ?, finish_reason = ?, error_code = ?, error_msg = ?, finished_at = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *`,
        status, status === 'cancelled' ? 'cancelled' : 'error', code, msg, Date.now(), row.run_id,
      )
      .one();
    if (!sub) {
      this.sendFrame(
        status === 'failed' ? { type: 'run.failed', run_id: row.run_id, code: code!, msg: msg! } : { type: 'run.finished', run_id: row.run_id, status, usage: null },
        true,
      );
    }
    const live = this.live.get(row.run_id);
    if (live) {
      this.end(live, finalRow);
      live.resolveDone();
    }
    await this.writeD1(row.run_id);
  }

  /** Waits for a run to end (the non-streaming chat route) and answers its outcome. */
  async wait(runId: string): Promise<Result<{ outcome: RunOutcome }>> {
    const live = this.live.get(runId);
    if (live) await live.done;
    const row = this.row(runId);
    return row ? { ok: true, outcome: this.outcomeOf(row) } : fail('run_not_found');
  }

  outcomeOf(row: RunRow): RunOutcome {
    return {
      run_id: row.run_id,
      chat_id: this.host.chatId(),
      status: row.status,
      message_id: row.reply_message_id,
      text: row.text,
      finished_at: row.finished_at === null ? null : iso(row.finished_at),
      metadata: metadataOf(row),
      error: row.error_code ? { code: row.error_code, msg: row.error_msg ?? '' } : null,
      tasks: JSON.stringify(this.tasksOf(row.run_id)),
      required_action:
        row.status === 'requires_action'
          ? {
              tool_calls: this.host.sql
                .exec<{ call_id: string; name: string; arguments: string }>(
                  "SELECT call_id, name, arguments FROM run_tool_calls WHERE run_id = ? AND status = 'requires_action' ORDER BY created_at",
                  row.run_id,
                )
                .toArray(),
            }
          : null,
      pending_approvals:
        row.status === 'waiting_approval'
          ? this.waits(row.run_id).approvals.map((c) => ({ approval_id: c.approval_id ?? '', call_id: c.call_id, name: c.name, arguments: c.arguments }))
          : null,
    };
  }

  /**
   * The tool rounds behind agent replies (for a conversation's history): for each of `messageIds`
   * that is a run's reply, the run and its calls in order, as JSON text (it crosses RPC).
   */
  toolRoundsOf(messageIds: string[]): string {
    const rows = this.host.sql
      .exec<ToolCallStored & { reply_message_id: string }>(
        `SELECT r.reply_message_id, c.* FROM runs r JOIN run_tool_calls c ON c.run_id = r.run_id
         WHERE r.reply_message_id IN (SELECT value FROM json_each(?)) ORDER BY c.step, c.created_at`,
        JSON.stringify(messageIds),
      )
      .toArray();
    const out: Record<string, { run_id: string; tool_calls: Json[] }> = {};
    for (const c of rows) {
      (out[c.reply_message_id] ??= { run_id: c.run_id, tool_calls: [] }).tool_calls.push({
        call_id: c.call_id,
        name: c.name,
        kind: c.kind,
        arguments: jsonOrText<Json>(c.arguments),
        status: c.status,
        output: c.output === null ? null : jsonOrText<Json>(c.output),
        error: c.error,
      });
    }
    return JSON.stringify(out);
  }

  /** The tasks a run's create_task and update_task calls answered, one per task (its last state), in call order. */
  private tasksOf(runId: string): { [key: string]: Json }[] {
    const byId = new Map<string, { [key: string]: Json }>();
    const rows = this.host.sql
      .exec<{ output: string }>(
        "SELECT output FROM run_tool_calls WHERE run_id = ? AND status = 'completed' AND name IN ('create_task', 'update_task') ORDER BY created_at",
        runId,
      )
      .toArray();
    for (const r of rows) {
      const task = (jsonOrText<Json>(r.output) as { task?: { [key: string]: Json } }).task;
      if (task && typeof task.task_id === 'string') {
        byId.delete(task.task_id);
        byId.set(task.task_id, task);
      }
    }
    return [...byId.values()];
  }

  /**
   * A run's Server-Sent Events from `lastEventId` on (ids are offsets into the reply text: `0` is
   * `start`, a token's id is the text's length after it, the last event's is one more). A live
   * run's listener then gets the rest as it happens; a finished run's stream ends at once.
   */
  events(runId: string, lastEventId: string | null): Result<{ stream: ReadableStream<Uint8Array> }> {
    if (!this.row(runId)) return fail('run_not_found');
    return { ok: true, stream: this.listen(runId, lastEventId) };
  }

  private listen(runId: string, lastEventId: string | null): ReadableStream<Uint8Array> {
    const row = this.row(runId)!;
    const live = this.live.get(runId);
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const listener = new Listener(writable, this.host.cfg().sseKeepaliveMs, (l) => live?.listeners.delete(l));
    const seen = lastEventId !== null && /^\d+$/.test(lastEventId) ? Number(lastEventId) : -1;
    const text = live ? live.text : row.text;
    const started = row.started_at !== null;
    if (started && seen < 0) listener.send('0', this.startEvent(row));
    if (started && text.length > Math.max(seen, 0)) listener.send(String(text.length), { type: 'token', content: text.slice(Math.max(seen, 0)) });
    if (live) live.listeners.add(listener);
    else {
      listener.send(String(text.length + 1), this.endEvent(row));
      listener.end();
    }
    return readable;
  }

  /**
   * The alarm's part: orphaned runs (stored as running, unknown to this object: it was evicted
   * or crashed mid-run) fail and the sockets hear it; a queued run whose agent is free starts;
   * runs past their deadline are aborted; D1 writes that failed are retried. Returns when the
   * alarm should fire next for runs, or null.
   */
  async maintain(now: number): Promise<number | null> {
    for (const row of this.liveRows()) {
      const live = this.live.get(row.run_id);
      if (row.status === 'running' && !live) {
        const f = fail('run_interrupted');
        await this.endUnstarted(row, 'failed', f.code, f.msg);
      } else if (isWaitingRun(row.status) && row.waiting_until !== null && row.waiting_until <= now) {
        await this.endWait(row, now);
      } else if (live && row.deadline !== null && row.deadline <= now) live.controller.abort('timeout' satisfies AbortReason);
    }
    for (const row of this.liveRows()) if (row.status === 'queued') await this.startNext(row.agent_id);
    const dirty = this.host.sql.exec<{ run_id: string }>('SELECT run_id FROM runs WHERE d1_dirty = 1 AND status NOT IN (\'queued\', \'running\')').toArray();
    for (const { run_id } of dirty) await this.writeD1(run_id);
    const stillDirty = this.host.sql.exec('SELECT 1 FROM runs WHERE d1_dirty = 1 AND status NOT IN (\'queued\', \'running\') LIMIT 1').toArray().length > 0;
    // A queued run left waiting (its admission read failed) is tried again at the next heartbeat.
    if (this.live.size > 0 || this.host.sql.exec("SELECT 1 FROM runs WHERE status IN ('queued', 'running') LIMIT 1").toArray().length) {
      return now + RUN_HEARTBEAT_MS;
    }
    // Waiting runs need the alarm only when their wait ends.
    const waitEnds = this.host.sql.exec<{ t: number | null }>(`SELECT MIN(waiting_until) AS t FROM runs WHERE status IN ${WAITING}`).one().t;
    const next = [waitEnds, stillDirty ? now + D1_RETRY_MS : null].filter((t): t is number => t !== null);
    return next.length ? Math.min(...next) : null;
  }

  /** The chat is being deleted (sockets already closed, storage not yet): every live run ends `cancelled`. */
  async abortAll() {
    const waits: Promise<void>[] = [];
    for (const row of this.liveRows()) {
      const live = this.live.get(row.run_id);
      if (row.status === 'running' && live) {
        live.controller.abort('deleted' satisfies AbortReason);
        waits.push(live.done);
      } else waits.push(this.endUnstarted(row, 'cancelled', 'chat_not_found', 'The chat was deleted'));
    }
    await Promise.all(waits);
  }
}

function metadataOf(row: RunRow): RunMetadata {
  const usage = usageOf(row);
  const agent = JSON.parse(row.agent) as Partial<RunAgent>;
  return {
    model: agent.model?.name ?? '',
    tokens_used: usage ? usage.input_tokens + usage.output_tokens : 0,
    usage,
    finish_reason: row.finish_reason,
    cost: usd(row.cost_micros ?? 0),
  };
}

/** The D1 mirror of a stored run. */
function d1Row(chatId: string, r: RunRow) {
  const agent = JSON.parse(r.agent) as Partial<RunAgent>;
  return {
    id: r.run_id,
    userId: r.user_id,
    agentId: r.agent_id,
    chatId,
    workspaceId: r.workspace_id,
    status: r.status,
    trigger: r.trigger,
    parentRunId: r.parent_run_id,
    depth: r.depth,
    replyToSeq: r.reply_to_seq,
    replyMessageId: r.reply_message_id,
    provider: agent.model?.provider ?? 'openai-compatible',
    model: agent.model?.name ?? '',
    inputTokens: r.input_tokens,
    outputTokens: r.output_tokens,
    costMicros: r.cost_micros,
    estimated: r.estimated === 1,
    unpriced: r.unpriced === 1,
    finishReason: r.finish_reason,
    errorCode: r.error_code,
    errorMsg: r.error_msg,
    createdAt: r.created_at,
    startedAt: r.started_at,
    firstTokenAt: r.first_token_at,
    finishedAt: r.finished_at,
    updatedAt: Date.now(),
  };
}

/** The longest prefix of `text` within `max` UTF-8 bytes, never splitting a character. */
function fitBytes(text: string, max: number): string {
  if (max <= 0) return '';
  let bytes = 0;
  let end = 0;
  for (const ch of text) {
    const b = encoder.encode(ch).byteLength;
    if (bytes + b > max) break;
    bytes += b;
    end += ch.length;
  }
  return text.slice(0, end);
}

/** How a run ends (its status, finish reason and error). */
type StepOutcome = { status: 'completed' | 'cancelled' | 'failed'; finish: FinishReason; error?: Failure };


/** A tool result as the model reads it: at most `max` UTF-8 bytes, saying so when cut. */
function capText(text: string, max: number): string {
  if (encoder.encode(text).byteLength <= max) return text;
  const note = ` [cut: the result was longer than ${max} bytes]`;
  return fitBytes(text, Math.max(0, max - note.length)) + note;
}

/** A run_tool_calls row of the object's storage. */
interface ToolCallStored extends Record<string, SqlStorageValue> {
  run_id: string;
  call_id: string;
  step: number;
  name: string;
  kind: 'builtin' | 'mcp' | 'client';
  arguments: string;
  /** pending (running now), a wait (requires_action, waiting_approval), approved (runs when the run resumes), or its end. */
  status: 'pending' | 'requires_action' | 'waiting_approval' | 'approved' | 'completed' | 'failed' | 'refused';
  output: string | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
  approval_id: string | null;
  waits_until: number | null;
}

/** What a model's call names (Runs.target). */
interface ToolTarget {
  kind: 'builtin' | 'mcp' | 'client';
  /** The agent's entry: a built-in's name, `mcp:<slug>:<tool>`, a client tool's name. */
  name: string;
  requiresApproval: boolean;
  /** False: the agent has no such tool (or this sub-run may not call it); the call is refused. */
  available: boolean;
}

/** What the model reads of a call a person refused, or nobody decided in time. */
const refusalText = (status: 'rejected' | 'expired', reason: string | null) =>
  status === 'expired'
    ? 'The call was not approved: nobody decided within APPROVAL_TIMEOUT_SECONDS, so it did not run'
    : `The user refused this call, so it did not run${reason ? `. Their reason: ${reason}` : ''}`;

/** An MCP tool offered to a run's model: the agent's entry (`mcp:<slug>:<tool>`), whether it needs approval, and the definition the model sees. */
interface McpOffer {
  entry: string;
  requires_approval: boolean;
  tool: ModelTool;
}

/** The name the model sees for an MCP tool (tool names allow no colons). */
const mcpModelName = (slug: string, tool: string) => `mcp__${slug}__${tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);

/** The agent's client tools (any `tools` entry that is not a built-in or an MCP tool), as the model sees them. */
function clientTools(agent: RunAgent): ModelTool[] {
  return (agent.tools ?? [])
    .filter((t) => !isBuiltin(t.name) && !t.name.startsWith('mcp:'))
    .map((t) => ({ name: t.name, description: t.description, parameters: t.parameters ?? { type: 'object', properties: {} } }));
}

/** The name the model used for a stored call (an MCP entry `mcp:<slug>:<tool>` is `mcp__<slug>__<tool>` to it). */
function modelToolName(c: { name: string; kind: string }): string {
  const m = c.kind === 'mcp' ? MCP_ENTRY.exec(c.name) : null;
  return m ? mcpModelName(m[1], m[2]) : c.name;
}
