import { priceCall, usd } from '../cost/pricing';
import { insertUsageStatement, recordCrossingsStatement } from '../cost/queries';
import { getDb } from '../db/client';
import type { Config } from '../lib/config';
import { newId } from '../lib/ids';
import { jsonOrText } from '../lib/json';
import { iso } from '../lib/time';
import { callModel, ModelError, type ModelMessage, type ModelTool, type ModelToolCall } from '../model/client';
import { callMcpTool, mcpToolsFor } from '../mcp/index';
import { memoriesForPrompt } from '../memories/service';
import { type BuiltinName, builtinDefinition, isBuiltin, runBuiltin, type ToolResult } from '../tools/builtin';
import { upsertRunStatement, upsertToolCallStatement } from '../runs/queries';
import type { Fanout } from './chat-fanout';
import * as store from './chat-store';
import {
  type Failure,
  fail,
  isLiveRun,
  type FinishReason,
  type Json,
  type Result,
  type RunEvent,
  type RunFrame,
  type RunMetadata,
  type RunStatus,
  type RunUsage,
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
  }
}

export type RunTrigger = 'http' | 'message' | 'code';

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
} as const;

interface RunRow extends Record<string, SqlStorageValue> {
  context_seq: number | null;
  waiting_until: number | null;
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
  /** The agent and workspace, already read and checked by the caller (the HTTP route) with loadRunAgent. */
  preloaded?: { agent: RunAgent; workspaceId: string };
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
      ? this.host.sql.exec<RunRow>("SELECT * FROM runs WHERE status IN ('queued', 'running', 'requires_action') ORDER BY created_at").toArray()
      : this.host.sql.exec<RunRow>("SELECT * FROM runs WHERE agent_id = ? AND status IN ('queued', 'running', 'requires_action') ORDER BY created_at", agentId).toArray();
  }

  /** True if storage holds a live run (the constructor asks: a fresh object has none of its own, so those are orphans). */
  hasStoredLiveRuns(): boolean {
    return this.host.sql.exec("SELECT 1 FROM runs WHERE status IN ('queued', 'running', 'requires_action') LIMIT 1").toArray().length > 0;
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
      ? { chat: { ownerId: input.userId, workspaceId: input.preloaded.workspaceId }, agent: input.preloaded.agent, failure: undefined }
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
      context_seq: null,
      waiting_until: null,
    };
    this.insertRow(row);
    const live = this.track(row, loaded.agent);
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
      context_seq: null,
      waiting_until: null,
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
   * run began, then this run's own tool rounds (its calls and their results, kept in
   * run_tool_calls). Tools run as the chat's owner (src/tools/builtin.ts); a refused or failed
   * call is a result the model reads. Text written in any step is part of the one reply.
   */
  private async execute(live: LiveRun, row: RunRow) {
    const cfg = this.host.cfg();
    const base = this.context(live, row.context_seq ?? this.host.messages.lastSeq());
    // The agent's memories of the user span chats (the one exception to "this chat only"), within MEMORY_PROMPT_MAX_BYTES.
    const memories = cfg.tools.memoryPromptMaxBytes > 0 ? await memoriesForPrompt(getDb(this.host.env), row.user_id, row.agent_id, cfg.tools.memoryPromptMaxBytes) : '';
    if (memories) base.splice(base[0]?.role === 'system' ? 1 : 0, 0, { role: 'system', content: memories });
    const builtins = (live.agent.tools ?? []).filter((t) => isBuiltin(t.name)).map((t) => builtinDefinition(t.name as BuiltinName));
    const mcp = await this.mcpTools(live, row);
    const clients = clientTools(live.agent);
    const tools = [...builtins, ...mcp.map((m) => m.tool), ...clients];
    live.mcp = new Map(mcp.map((m) => [m.tool.name, m]));
    // A resumed run (client tool outputs came in) goes on from its stored rounds.
    const rounds: ModelMessage[] = this.storedRounds(row.run_id);
    for (let step = row.step + 1; ; step++) {
      const done = await this.step(live, step, [...base, ...rounds], tools);
      if (done.outcome) return this.finish(live, done.outcome);
      if (step >= cfg.tools.maxSteps) return this.finish(live, { status: 'completed', finish: 'length' });
      rounds.push({ role: 'assistant', content: done.text, toolCalls: done.toolCalls });
      const waiting: ModelToolCall[] = [];
      for (const call of done.toolCalls) {
        if (live.controller.signal.aborted) break;
        if (clients.some((t) => t.name === call.name)) waiting.push(this.awaitClient(live, step, call));
        else rounds.push({ role: 'tool', callId: call.id, name: call.name, content: await this.runTool(live, row, step, call) });
      }
      if (waiting.length && !live.controller.signal.aborted) return this.pause(live, waiting);
      const reason = live.controller.signal.aborted ? (live.controller.signal.reason as AbortReason) : null;
      if (reason === 'cancelled' || reason === 'deleted') return this.finish(live, { status: 'cancelled', finish: 'cancelled' });
      if (reason === 'timeout') return this.finish(live, { status: 'failed', finish: 'error', error: fail('run_timeout', `The run took longer than LLM_MAX_RUN_MS (${cfg.llm.maxRunMs} ms)`) });
      if (reason === 'length') return this.finish(live, { status: 'completed', finish: 'length' });
    }
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

  /** A client tool call: recorded as waiting for the client's output, and announced (kind `client`). */
  private awaitClient(live: LiveRun, step: number, call: ModelToolCall): ModelToolCall {
    this.host.sql.exec(
      "INSERT OR REPLACE INTO run_tool_calls (run_id, call_id, step, name, kind, arguments, status, created_at) VALUES (?, ?, ?, ?, 'client', ?, 'requires_action', ?)",
      live.id, call.id, step, call.name, call.arguments, Date.now(),
    );
    this.announce(live, { type: 'run.tool_call', run_id: live.id, call_id: call.id, name: call.name, kind: 'client', arguments: jsonOrText<Json>(call.arguments) });
    return call;
  }

  /**
   * The run waits for the client's tool outputs (OpenAI's "requires action"): it leaves memory
   * (its state is all in storage), SSE listeners get `requires_action` and their stream ends,
   * and the alarm fails it after TOOL_OUTPUT_TIMEOUT_SECONDS.
   */
  private async pause(live: LiveRun, calls: ModelToolCall[]) {
    const cfg = this.host.cfg();
    const until = Date.now() + cfg.tools.outputTimeoutSeconds * 1000;
    this.flushDelta(live);
    const row = this.host.sql
      .exec<RunRow>(
        "UPDATE runs SET status = 'requires_action', text = ?, first_token_at = ?, waiting_until = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *",
        live.text, live.firstTokenAt, until, live.id,
      )
      .one();
    const event: RunEvent = { type: 'requires_action', run_id: live.id, tool_calls: calls.map((c) => ({ call_id: c.id, name: c.name, arguments: jsonOrText<Json>(c.arguments) })) };
    for (const l of live.listeners) {
      l.send(String(row.text.length), event);
      l.end();
    }
    this.live.delete(live.id);
    await live.d1;
    await this.writeD1(live.id);
    live.resolveDone();
    await this.host.alarmBy(until);
  }

  /**
   * The client's outputs for a run in `requires_action` (POST /runs/{run_id}/tool-outputs). Every
   * call_id must be one the run waits on (else nothing is written); once every waiting call of
   * the step has its output, the run resumes from its stored steps.
   */
  async submitToolOutputs(runId: string, outputs: { call_id: string; output: string }[], stream: boolean): Promise<Result<{ run: StartedRun; waiting: string[] }>> {
    const { sql } = this.host;
    const row = this.row(runId);
    if (!row) return fail('run_not_found');
    if (row.status !== 'requires_action') return fail('run_not_waiting');
    const pending = new Set(
      sql.exec<{ call_id: string }>("SELECT call_id FROM run_tool_calls WHERE run_id = ? AND status = 'requires_action'", runId).toArray().map((c) => c.call_id),
    );
    const unknown = outputs.find((o) => !pending.has(o.call_id));
    if (unknown) return fail('tool_call_not_found', `The run is not waiting on a call ${JSON.stringify(unknown.call_id)}`);
    const now = Date.now();
    for (const o of outputs) {
      sql.exec("UPDATE run_tool_calls SET status = 'completed', output = ?, finished_at = ? WHERE run_id = ? AND call_id = ?", JSON.stringify(o.output), now, runId, o.call_id);
      pending.delete(o.call_id);
      this.sendFrame({ type: 'run.tool_result', run_id: runId, call_id: o.call_id, output: o.output }, false);
    }
    if (pending.size) return { ok: true, run: this.started(row, false), waiting: [...pending] };
    // Every output is in: the run goes on.
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
      const m = /^mcp:([a-z0-9][a-z0-9-]{0,62}):(.+)$/.exec(t.name);
      return m ? [{ entry: t.name, slug: m[1], tool: m[2] }] : [];
    });
    if (!wanted.length) return [];
    const servers = await mcpToolsFor(getDb(this.host.env), row.user_id, wanted.map((w) => w.slug));
    return wanted.flatMap((w) => {
      const listed = servers.find((s) => s.slug === w.slug)?.tools.find((t) => t.name === w.tool);
      if (!listed) return [];
      const name = `mcp__${w.slug}__${w.tool}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64);
      const parameters = (listed.input_schema ?? { type: 'object' }) as Record<string, unknown>;
      return [{ entry: w.entry, slug: w.slug, toolName: w.tool, tool: { name, description: listed.description ?? undefined, parameters } }];
    });
  }

  /**
   * One tool call: recorded, announced (run.tool_call), run, its result recorded and announced
   * (run.tool_result), answered as the text the model reads (capped at TOOL_OUTPUT_MAX_BYTES).
   * Built-in tools the agent was given run; any other name the model asks for is refused.
   */
  private async runTool(live: LiveRun, row: RunRow, step: number, call: ModelToolCall): Promise<string> {
    const cfg = this.host.cfg();
    const { sql } = this.host;
    const mcp = live.mcp?.get(call.name);
    const kind = mcp ? 'mcp' : 'builtin';
    const name = mcp ? mcp.entry : call.name;
    sql.exec(
      'INSERT OR REPLACE INTO run_tool_calls (run_id, call_id, step, name, kind, arguments, status, created_at) VALUES (?, ?, ?, ?, ?, ?, \'pending\', ?)',
      live.id, call.id, step, name, kind, call.arguments, Date.now(),
    );
    this.announce(live, { type: 'run.tool_call', run_id: live.id, call_id: call.id, name, kind, arguments: jsonOrText<Json>(call.arguments) });
    const deps = { db: getDb(this.host.env), env: this.host.env };
    let result: ToolResult;
    if (mcp) {
      const args = jsonOrText<Json>(call.arguments);
      const called =
        args !== null && typeof args === 'object' && !Array.isArray(args)
          ? await callMcpTool(deps, row.user_id, mcp.slug, mcp.toolName, args)
          : ({ ok: false, error: 'Invalid arguments: a JSON object is expected' } as const);
      result = called.ok ? { ok: true, output: called.output } : called;
    } else if (isBuiltin(call.name) && (live.agent.tools ?? []).some((t) => t.name === call.name)) {
      result = await runBuiltin(call.name, call.arguments, { db: deps.db, userId: row.user_id, agentId: row.agent_id, workspaceId: row.workspace_id });
    } else result = { ok: false, error: `No tool named ${JSON.stringify(call.name)} is available to this agent` };
    sql.exec(
      'UPDATE run_tool_calls SET status = ?, output = ?, error = ?, finished_at = ? WHERE run_id = ? AND call_id = ?',
      result.ok ? 'completed' : 'failed', result.ok ? JSON.stringify(result.output) : null, result.ok ? null : result.error, Date.now(), live.id, call.id,
    );
    this.announce(
      live,
      result.ok ? { type: 'run.tool_result', run_id: live.id, call_id: call.id, output: result.output as Json } : { type: 'run.tool_result', run_id: live.id, call_id: call.id, error: result.error },
    );
    return capText(result.ok ? JSON.stringify(result.output) : `Error: ${result.error}`, cfg.tools.outputMaxBytes);
  }

  /** A tool frame to every socket (pending text first, so the order holds) and every SSE listener. */
  private announce(live: LiveRun, frame: Extract<RunFrame, { type: 'run.tool_call' | 'run.tool_result' }>) {
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
      live.pendingDelta += text;
      const id = String(live.text.length);
      for (const l of live.listeners) l.send(id, { type: 'token', content: text });
      this.scheduleDelta(live, now);
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
    const rows = [...this.live.values()].map((live) => this.row(live.id)).filter((row) => row?.status === 'running');
    return rows.map((row) => ({ type: 'run.started', run_id: row!.run_id, agent_id: row!.agent_id, reply_to_seq: row!.reply_to_seq }));
  }

  /** A socket that just joined: each live run's run.started, then its text so far as one run.delta. */
  greet(ws: WebSocket) {
    for (const live of this.live.values()) {
      const row = this.row(live.id);
      if (!row || row.status !== 'running') continue;
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
    if (!dead && live.text !== '' && o.status !== 'failed') {
      const stored = this.host.messages.insert({
        message_id: newId(), sender_id: live.agentId, role: 'agent', content: live.text, created_at: now, client_id: null,
      })!;
      replyId = stored.message_id;
      this.host.fanout.broadcast(store.messageJson(this.host.chatId(), stored));
    }
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
    this.sendFrame(frame, true);
    this.end(live, finalRow);
    await live.d1;
    await this.writeD1(live.id);
    live.resolveDone();
    if (!dead) void this.startNext(live.agentId);
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
    if (row.status !== 'queued' && row.status !== 'running' && row.status !== 'requires_action') return fail('run_not_active');
    const live = this.live.get(runId);
    if (row.status === 'running' && live) {
      live.controller.abort('cancelled' satisfies AbortReason);
      await live.done;
    } else await this.endUnstarted(row, 'cancelled', null, null);
    return { ok: true, outcome: this.outcomeOf(this.row(runId)!) };
  }

  /** A queued (or orphaned) run has no model call to abort: it just ends. */
  private async endUnstarted(row: RunRow, status: 'cancelled' | 'failed', code: string | null, msg: string | null) {
    const finalRow = this.host.sql
      .exec<RunRow>(
        `UPDATE runs SET status = ?, finish_reason = ?, error_code = ?, error_msg = ?, finished_at = ?, d1_dirty = 1 WHERE run_id = ? RETURNING *`,
        status, status === 'cancelled' ? 'cancelled' : 'error', code, msg, Date.now(), row.run_id,
      )
      .one();
    this.sendFrame(
      status === 'failed' ? { type: 'run.failed', run_id: row.run_id, code: code!, msg: msg! } : { type: 'run.finished', run_id: row.run_id, status, usage: null },
      true,
    );
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
    };
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
      } else if (row.status === 'requires_action' && row.waiting_until !== null && row.waiting_until <= now) {
        const seconds = this.host.cfg().tools.outputTimeoutSeconds;
        await this.endUnstarted(row, 'failed', 'run_timeout', `No tool outputs came within TOOL_OUTPUT_TIMEOUT_SECONDS (${seconds} s)`);
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
    // Runs waiting on client tool outputs need the alarm only when their wait ends.
    const waitEnds = this.host.sql.exec<{ t: number | null }>("SELECT MIN(waiting_until) AS t FROM runs WHERE status = 'requires_action'").one().t;
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
  status: 'pending' | 'requires_action' | 'completed' | 'failed';
  output: string | null;
  error: string | null;
  created_at: number;
  finished_at: number | null;
}

/** An MCP tool offered to a run's model: the agent's entry, the server and tool, and the definition the model sees. */
interface McpOffer {
  entry: string;
  slug: string;
  toolName: string;
  tool: ModelTool;
}

/** The agent's client tools (any `tools` entry that is not a built-in or an MCP tool), as the model sees them. */
function clientTools(agent: RunAgent): ModelTool[] {
  return (agent.tools ?? [])
    .filter((t) => !isBuiltin(t.name) && !t.name.startsWith('mcp:'))
    .map((t) => ({ name: t.name, description: t.description, parameters: t.parameters ?? { type: 'object', properties: {} } }));
}

/** The name the model used for a stored call (an MCP entry `mcp:<slug>:<tool>` is `mcp__<slug>__<tool>` to it). */
function modelToolName(c: { name: string; kind: string }): string {
  const m = c.kind === 'mcp' ? /^mcp:([^:]+):(.+)$/.exec(c.name) : null;
  return m ? `mcp__${m[1]}__${m[2]}`.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, 64) : c.name;
}
