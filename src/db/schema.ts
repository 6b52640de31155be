import { sql } from 'drizzle-orm';
import { type AnySQLiteColumn, index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

// Timestamps are integer milliseconds since the epoch; routes render them as ISO 8601.
const ms = (name: string) => integer(name, { mode: 'number' });
const createdAt = () => ms('created_at').notNull();

export const users = sqliteTable('users', {
  id: text('id').primaryKey(),
  email: text('email').notNull().unique(),
  passwordHash: text('password_hash').notNull(),
  createdAt: createdAt(),
  updatedAt: ms('updated_at').notNull(),
});

/** One login: the source of truth for logout-all; KV holds the fast copy the auth middleware reads. */
export const sessions = sqliteTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: ms('expires_at').notNull(),
    revokedAt: ms('revoked_at'),
  },
  (t) => [index('sessions_user_idx').on(t.userId), index('sessions_expires_idx').on(t.expiresAt)],
);

/** Refresh tokens, stored as sha256 hashes. A session is one family; `parentId` chains rotations. */
export const refreshTokens = sqliteTable(
  'refresh_tokens',
  {
    id: text('id').primaryKey(),
    tokenHash: text('token_hash').notNull().unique(),
    familyId: text('family_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
    parentId: text('parent_id'),
    userId: text('user_id').notNull(),
    createdAt: createdAt(),
    expiresAt: ms('expires_at').notNull(),
    rotatedAt: ms('rotated_at'),
    revokedAt: ms('revoked_at'),
  },
  (t) => [index('refresh_tokens_family_idx').on(t.familyId), index('refresh_tokens_expires_idx').on(t.expiresAt)],
);

/** Failed logins per normalized email (known or not), counted with one atomic upsert. */
export const loginAttempts = sqliteTable('login_attempts', {
  email: text('email').primaryKey(),
  failures: integer('failures').notNull(),
  windowStartedAt: ms('window_started_at').notNull(),
});

export const workspaces = sqliteTable(
  'workspaces',
  {
    id: text('id').primaryKey(),
    ownerId: text('owner_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [index('workspaces_owner_created_idx').on(t.ownerId, t.createdAt, t.id)],
);

export const chats = sqliteTable(
  'chats',
  {
    id: text('id').primaryKey(),
    workspaceId: text('workspace_id').notNull().references(() => workspaces.id, { onDelete: 'cascade' }),
    ownerId: text('owner_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    title: text('title'),
    /** The chat's default agent: it answers every user message that names no agent. */
    agentId: text('agent_id').references((): AnySQLiteColumn => agents.id, { onDelete: 'set null' }),
    createdAt: createdAt(),
  },
  (t) => [
    index('chats_workspace_created_idx').on(t.workspaceId, t.createdAt, t.id),
    index('chats_owner_created_idx').on(t.ownerId, t.createdAt, t.id),
  ],
);

/**
 * An agent run: one answer of one agent in one chat. It executes in the chat's Durable Object
 * (src/durable/chat-runs.ts), which writes this row when the run starts and when it ends. No
 * foreign key to the agent or the chat: a deleted agent's or chat's runs stay readable (and the
 * cost issue's ledger hangs off them).
 */
export const runs = sqliteTable(
  'runs',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    agentId: text('agent_id').notNull(),
    chatId: text('chat_id').notNull(),
    workspaceId: text('workspace_id').notNull(),
    status: text('status', { enum: ['queued', 'running', 'requires_action', 'waiting_approval', 'completed', 'failed', 'cancelled'] }).notNull(),
    /** How it started: POST /agents/{id}/chat, a chat message, or code (processes, workflows). */
    trigger: text('trigger', { enum: ['http', 'message', 'code', 'agent'] }).notNull(),
    /** A sub-run (delegation through `ask_agent`): the run that asked, and how deep it is. */
    parentRunId: text('parent_run_id'),
    depth: integer('depth').notNull().default(0),
    replyToSeq: integer('reply_to_seq'),
    replyMessageId: text('reply_message_id'),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    inputTokens: integer('input_tokens'),
    outputTokens: integer('output_tokens'),
    finishReason: text('finish_reason'),
    /** What the run's model calls cost, in micro-USD (the sum of its usage_entries). */
    costMicros: integer('cost_micros'),
    /** A model call's usage was estimated (the provider gave none), or its model had no price. */
    estimated: integer('estimated', { mode: 'boolean' }).notNull().default(false),
    unpriced: integer('unpriced', { mode: 'boolean' }).notNull().default(false),
    errorCode: text('error_code'),
    errorMsg: text('error_msg'),
    createdAt: createdAt(),
    startedAt: ms('started_at'),
    firstTokenAt: ms('first_token_at'),
    finishedAt: ms('finished_at'),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('runs_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('runs_user_agent_idx').on(t.userId, t.agentId, t.createdAt, t.id),
    index('runs_user_chat_idx').on(t.userId, t.chatId, t.createdAt, t.id),
    index('runs_user_status_idx').on(t.userId, t.status, t.createdAt, t.id),
    // An agent is `running` while it has a live run; the cron sweeps live runs nobody finished.
    index('runs_live_agent_idx').on(t.agentId).where(sql`${t.status} IN ('queued', 'running')`),
    index('runs_live_updated_idx').on(t.updatedAt).where(sql`${t.status} IN ('queued', 'running')`),
    // A run's sub-runs (ask_agent), for GET /runs/{run_id}.
    index('runs_parent_idx').on(t.parentRunId).where(sql`${t.parentRunId} IS NOT NULL`),
  ],
);

/**
 * The usage ledger: one row per model call of a run (id `<run_id>:<step>`, so a retried write is
 * harmless), written by the chat's object with the run's row. No foreign key to the agent, the
 * chat or the run's workspace: deleting them never erases what was spent. Only a deleted user's
 * rows go.
 */
export const usageEntries = sqliteTable(
  'usage_entries',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    runId: text('run_id').notNull(),
    agentId: text('agent_id').notNull(),
    chatId: text('chat_id').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    inputTokens: integer('input_tokens').notNull(),
    outputTokens: integer('output_tokens').notNull(),
    costMicros: integer('cost_micros').notNull(),
    estimated: integer('estimated', { mode: 'boolean' }).notNull(),
    unpriced: integer('unpriced', { mode: 'boolean' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('usage_user_created_idx').on(t.userId, t.createdAt),
    index('usage_user_agent_idx').on(t.userId, t.agentId, t.createdAt),
    index('usage_user_model_idx').on(t.userId, t.provider, t.model, t.createdAt),
  ],
);

/** A user's own monthly budget and its alert thresholds (fractions of the limit). */
export const budgets = sqliteTable('budgets', {
  userId: text('user_id').primaryKey().references(() => users.id, { onDelete: 'cascade' }),
  monthlyLimitMicros: integer('monthly_limit_micros'),
  /** JSON array of fractions in (0, 1]. */
  alertThresholds: text('alert_thresholds').notNull().default('[]'),
  updatedAt: ms('updated_at').notNull(),
});

/** Each threshold crossed, once per user per month (`YYYY-MM`, UTC). */
export const budgetAlerts = sqliteTable(
  'budget_alerts',
  {
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    month: text('month').notNull(),
    threshold: real('threshold').notNull(),
    crossedAt: ms('crossed_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.userId, t.month, t.threshold] })],
);

/** A tool call of a run (one row per call), written with the run's row; `GET /runs/{run_id}` lists them. */
export const runToolCalls = sqliteTable(
  'run_tool_calls',
  {
    runId: text('run_id').notNull(),
    callId: text('call_id').notNull(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    step: integer('step').notNull(),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['builtin', 'mcp', 'client'] }).notNull(),
    arguments: text('arguments').notNull(),
    status: text('status', { enum: ['pending', 'requires_action', 'waiting_approval', 'approved', 'completed', 'failed', 'refused'] }).notNull(),
    output: text('output'),
    error: text('error'),
    approvalId: text('approval_id'),
    createdAt: createdAt(),
    finishedAt: ms('finished_at'),
  },
  (t) => [primaryKey({ columns: [t.runId, t.callId] })],
);

/** An agent's memories of a user (001): they span chats and go into the agent's prompt within a budget. */
export const memories = sqliteTable(
  'memories',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    agentId: text('agent_id').notNull(),
    content: text('content').notNull(),
    category: text('category').notNull(),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('memories_user_agent_idx').on(t.userId, t.agentId, t.createdAt, t.id),
    index('memories_user_agent_category_idx').on(t.userId, t.agentId, t.category, t.createdAt, t.id),
  ],
);

/** A human decision (001): raised by a user for themselves, or by a run's tool call marked requires_approval. */
export const approvals = sqliteTable(
  'approvals',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    title: text('title').notNull(),
    description: text('description'),
    payload: text('payload'),
    status: text('status', { enum: ['pending', 'approved', 'rejected', 'expired'] }).notNull(),
    reason: text('reason'),
    runId: text('run_id'),
    chatId: text('chat_id'),
    callId: text('call_id'),
    tool: text('tool'),
    arguments: text('arguments'),
    createdAt: createdAt(),
    expiresAt: ms('expires_at'),
    decidedAt: ms('decided_at'),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('approvals_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('approvals_user_status_idx').on(t.userId, t.status, t.createdAt, t.id),
    index('approvals_pending_expiry_idx').on(t.expiresAt).where(sql`${t.status} = 'pending'`),
    uniqueIndex('approvals_run_call_idx').on(t.runId, t.callId).where(sql`${t.runId} IS NOT NULL`),
  ],
);

/** A remote MCP server of a user's (003), reached over Streamable HTTP; header values encrypted at rest. */
export const mcpServers = sqliteTable(
  'mcp_servers',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    slug: text('slug').notNull(),
    url: text('url').notNull(),
    /** AES-GCM of the headers' JSON (MCP_HEADERS_KEY); null without headers. */
    headersEnc: text('headers_enc'),
    headerNames: text('header_names').notNull().default('[]'),
    status: text('status', { enum: ['stopped', 'running', 'error'] }).notNull(),
    capabilities: text('capabilities'),
    tools: text('tools').notNull().default('[]'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [uniqueIndex('mcp_servers_user_slug_idx').on(t.userId, t.slug), index('mcp_servers_user_created_idx').on(t.userId, t.createdAt, t.id)],
);

/** Connection events and tool calls of an MCP server, bounded per server. */
export const mcpServerLogs = sqliteTable(
  'mcp_server_logs',
  {
    id: text('id').primaryKey(),
    serverId: text('server_id').notNull().references(() => mcpServers.id, { onDelete: 'cascade' }),
    at: ms('at').notNull(),
    kind: text('kind').notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('mcp_server_logs_server_idx').on(t.serverId, t.at, t.id)],
);

/** Which chats a session authorized, so revoking the session can close exactly those sockets. */
export const sessionChats = sqliteTable(
  'session_chats',
  {
    sessionId: text('session_id').notNull().references(() => sessions.id, { onDelete: 'cascade' }),
    chatId: text('chat_id').notNull().references(() => chats.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.sessionId, t.chatId] }), index('session_chats_chat_idx').on(t.chatId)],
);

/** A package name belongs to its first publisher. */
export const agentPackages = sqliteTable('agent_packages', {
  name: text('name').primaryKey(),
  ownerId: text('owner_id').notNull().references(() => users.id),
  createdAt: createdAt(),
});

export const agentPackageVersions = sqliteTable(
  'agent_package_versions',
  {
    name: text('name').notNull().references(() => agentPackages.name, { onDelete: 'cascade' }),
    version: text('version').notNull(),
    description: text('description').notNull(),
    manifest: text('manifest').notNull(),
    sha256: text('sha256').notNull(),
    size: integer('size').notNull(),
    r2Key: text('r2_key').notNull(),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.name, t.version] })],
);

/**
 * A user's agent: created with POST /agents, or installed from a package (`package_name` and
 * `version` set; one live agent per package per user). `model`, `tools` and `config` are JSON.
 * Deleting is soft (`deleted_at`): the row stays, and every route treats it as unknown.
 */
export const agents = sqliteTable(
  'agents',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    packageName: text('package_name'),
    version: text('version'),
    name: text('name').notNull(),
    description: text('description').notNull(),
    type: text('type').notNull(),
    role: text('role').notNull(),
    /** Stored `idle` or `offline` (start and stop); `running` is only ever computed. */
    status: text('status', { enum: ['idle', 'offline'] }).notNull().default('idle'),
    systemPrompt: text('system_prompt').notNull(),
    model: text('model').notNull(),
    tools: text('tools').notNull().default('[]'),
    config: text('config').notNull().default('{}'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
    deletedAt: ms('deleted_at'),
  },
  (t) => [
    // Partial: a deleted agent's row stays, and installing its package again makes a new agent.
    uniqueIndex('agents_user_package_idx').on(t.userId, t.packageName).where(sql`${t.deletedAt} IS NULL`),
    index('agents_user_live_created_idx').on(t.userId, t.createdAt, t.id).where(sql`${t.deletedAt} IS NULL`),
  ],
);

export const workspaceAgents = sqliteTable(
  'workspace_agents',
  {
    workspaceId: text('workspace_id').notNull().references(() => workspaces.id, { onDelete: 'cascade' }),
    agentId: text('agent_id').notNull().references(() => agents.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
  },
  (t) => [primaryKey({ columns: [t.workspaceId, t.agentId] }), index('workspace_agents_agent_idx').on(t.agentId)],
);

export const tasks = sqliteTable(
  'tasks',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id').references(() => workspaces.id, { onDelete: 'cascade' }),
    agentId: text('agent_id').references(() => agents.id, { onDelete: 'set null' }),
    title: text('title').notNull(),
    description: text('description'),
    status: text('status').notNull(),
    priority: text('priority').notNull(),
    dueDate: ms('due_date'),
    tags: text('tags').notNull().default('[]'),
    data: text('data'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
    completedAt: ms('completed_at'),
  },
  (t) => [
    index('tasks_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('tasks_user_status_idx').on(t.userId, t.status, t.createdAt, t.id),
    index('tasks_user_priority_idx').on(t.userId, t.priority, t.createdAt, t.id),
    index('tasks_user_workspace_idx').on(t.userId, t.workspaceId, t.createdAt, t.id),
    index('tasks_user_agent_idx').on(t.userId, t.agentId, t.createdAt, t.id),
    index('tasks_user_due_idx').on(t.userId, t.dueDate, t.createdAt, t.id),
    index('tasks_workspace_idx').on(t.workspaceId),
    index('tasks_agent_idx').on(t.agentId),
  ],
);

/**
 * One row per tag of a task, so the `tag` filter is an index lookup. created_at copies the task's,
 * so the index also yields the list order (newest first) and a cursor seeks instead of sorting.
 */
export const taskTags = sqliteTable(
  'task_tags',
  {
    taskId: text('task_id').notNull().references(() => tasks.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    tag: text('tag').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.taskId, t.tag] }),
    index('task_tags_user_tag_idx').on(t.userId, t.tag, t.createdAt, t.taskId),
  ],
);

export const processes = sqliteTable(
  'processes',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id').references(() => workspaces.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description'),
    triggerType: text('trigger_type').notNull(),
    schedule: text('schedule'),
    timezone: text('timezone').notNull().default('UTC'),
    isActive: integer('is_active', { mode: 'boolean' }).notNull().default(true),
    action: text('action').notNull(),
    webhookSecret: text('webhook_secret'),
    nextRunAt: ms('next_run_at'),
    lastExecutionAt: ms('last_execution_at'),
    createdAt: createdAt(),
    updatedAt: ms('updated_at').notNull(),
  },
  (t) => [
    index('processes_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('processes_due_idx').on(t.nextRunAt).where(sql`${t.isActive} = 1`),
    index('processes_workspace_idx').on(t.workspaceId),
  ],
);

export const processExecutions = sqliteTable(
  'process_executions',
  {
    id: text('id').primaryKey(),
    processId: text('process_id').notNull().references(() => processes.id, { onDelete: 'cascade' }),
    userId: text('user_id').notNull(),
    status: text('status').notNull(),
    message: text('message'),
    /** The scheduled time this run is for; unique per process so a due time never runs twice. */
    dueAt: ms('due_at'),
    startedAt: ms('started_at').notNull(),
    completedAt: ms('completed_at'),
  },
  (t) => [
    index('process_executions_process_idx').on(t.processId, t.startedAt, t.id),
    uniqueIndex('process_executions_due_idx').on(t.processId, t.dueAt),
    index('process_executions_running_idx').on(t.startedAt).where(sql`${t.status} = 'running'`),
  ],
);

export const files = sqliteTable(
  'files',
  {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull().references(() => users.id, { onDelete: 'cascade' }),
    workspaceId: text('workspace_id').references(() => workspaces.id, { onDelete: 'cascade' }),
    taskId: text('task_id').references(() => tasks.id, { onDelete: 'set null' }),
    name: text('name').notNull(),
    size: integer('size').notNull(),
    contentType: text('content_type').notNull(),
    sha256: text('sha256').notNull(),
    r2Key: text('r2_key').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('files_user_created_idx').on(t.userId, t.createdAt, t.id),
    index('files_user_task_idx').on(t.userId, t.taskId, t.createdAt, t.id),
    index('files_user_workspace_idx').on(t.userId, t.workspaceId, t.createdAt, t.id),
    index('files_workspace_idx').on(t.workspaceId),
    index('files_task_idx').on(t.taskId),
  ],
);

/**
 * Outbox of cleanup work outside D1 (a chat's Durable Object, an R2 object). Rows are written in
 * the same batch that deletes the D1 rows; `waitUntil` does the work right after and the cron
 * trigger sweeps whatever a failure left.
 */
export const cleanupJobs = sqliteTable(
  'cleanup_jobs',
  {
    id: text('id').primaryKey(),
    kind: text('kind', { enum: ['chat_room', 'r2_object'] }).notNull(),
    target: text('target').notNull(),
    attempts: integer('attempts').notNull().default(0),
    createdAt: createdAt(),
    /** The sweeper leaves a job alone until then (an upload in flight registers its key first). */
    runAfter: ms('run_after').notNull(),
  },
  (t) => [index('cleanup_jobs_run_after_idx').on(t.runAfter)],
);
