import type { Db } from '../db/client';
import { mcpServers } from '../db/schema';
import { config } from '../lib/config';
import { ApiError, badRequest, conflict, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { outboundUrlError } from '../lib/outbound-url';
import { owned } from '../lib/ownership';
import type { DataDeps } from '../lib/types';
import { eq } from 'drizzle-orm';
import { callTool, describeFailure, listTools, type McpTarget, type McpTool } from './connect';
import { decryptHeaders, encryptHeaders } from './crypto';
import {
  addLog,
  getServer,
  isSlugConflict,
  listLogs,
  listServers,
  runningServers,
  serverBySlug,
  updateWithLog,
  type McpServerRow,
  type NewMcpServer,
} from './queries';
import type { ConfigInput, CreateServerInput, UpdateServerInput } from './schemas';
import { URL_REQUIRED } from './schemas';

/**
 * A user's remote MCP servers (issue 12, item 7): registered by URL, started (connect, initialize,
 * list the tools), stopped and restarted; their tools are offered to agents by the run engine
 * through `mcpToolsFor` and called through `callMcpTool`.
 */

export const SERVER_NOT_FOUND = 'MCP server not found';
export const SLUG_TAKEN = 'You already have an MCP server with this slug';
export const COMMAND_UNSUPPORTED =
  'config.command is not supported: a Worker cannot start processes, so MCP servers must be remote. Give config.url, the server\'s Streamable HTTP endpoint';
export const HEADERS_KEY_MISSING = 'MCP server headers are encrypted with the MCP_HEADERS_KEY secret, which is not set: set it (32+ characters), or register the server without headers';

const notFoundError = () => notFound(SERVER_NOT_FOUND, 'mcp_server_not_found');

export async function ownServer(db: Db, userId: string, serverId: string): Promise<McpServerRow> {
  return owned(await getServer(db, serverId), userId, notFoundError);
}

/** The checks every config passes: no command, a URL that the outbound check accepts. */
function checkConfig(env: Env, c: ConfigInput, requireUrl: boolean): void {
  if (c.command !== undefined || c.args !== undefined || c.env !== undefined) throw new ApiError(400, 'mcp_command_unsupported', COMMAND_UNSUPPORTED);
  if (c.url === undefined) {
    if (requireUrl) throw badRequest(URL_REQUIRED, 'validation_error', { issues: [{ path: 'config.url', message: URL_REQUIRED }] });
    return;
  }
  const refused = outboundUrlError(c.url, config(env).outboundAllowLoopback);
  if (refused) {
    const message = `config.${refused}`;
    throw badRequest(message, 'validation_error', { issues: [{ path: 'config.url', message }] });
  }
}

function headersKey(env: Env): string {
  const key = config(env).tools.mcpHeadersKey;
  if (!key) throw new ApiError(503, 'config_invalid', HEADERS_KEY_MISSING, { var: 'MCP_HEADERS_KEY' });
  return key;
}

async function headerColumns(env: Env, serverId: string, headers: Record<string, string>): Promise<Pick<NewMcpServer, 'headersEnc' | 'headerNames'>> {
  const names = Object.keys(headers);
  if (names.length === 0) return { headersEnc: null, headerNames: '[]' };
  return { headersEnc: await encryptHeaders(headersKey(env), serverId, headers), headerNames: JSON.stringify(names) };
}

export async function createServer(deps: DataDeps, userId: string, body: CreateServerInput): Promise<McpServerRow> {
  checkConfig(deps.env, body.config, true);
  if (await serverBySlug(deps.db, userId, body.slug)) throw conflict(SLUG_TAKEN, 'mcp_slug_taken');
  const id = newId();
  const now = Date.now();
  const row: NewMcpServer = {
    id,
    userId,
    name: body.name,
    slug: body.slug,
    url: body.config.url!,
    ...(await headerColumns(deps.env, id, body.config.headers ?? {})),
    status: 'stopped',
    capabilities: null,
    tools: '[]',
    lastError: null,
    createdAt: now,
    updatedAt: now,
  };
  try {
    const [created] = await deps.db.insert(mcpServers).values(row).returning();
    return created;
  } catch (err) {
    if (isSlugConflict(err)) throw conflict(SLUG_TAKEN, 'mcp_slug_taken');
    throw err;
  }
}

/**
 * Changes what the body gives. `config.url` and `config.headers` are each replaced when given
 * (`headers: {}` removes them; left out, the stored ones stay, since no answer shows them). A new
 * URL or new headers stop the server: its tools must be listed again (start).
 */
export async function updateServer(deps: DataDeps, userId: string, serverId: string, body: UpdateServerInput): Promise<McpServerRow> {
  const server = await ownServer(deps.db, userId, serverId);
  if (body.config) checkConfig(deps.env, body.config, false);
  const changes: Partial<NewMcpServer> = { updatedAt: Math.max(Date.now(), server.updatedAt + 1) };
  if (body.name !== undefined) changes.name = body.name;
  if (body.slug !== undefined && body.slug !== server.slug) {
    if (await serverBySlug(deps.db, userId, body.slug)) throw conflict(SLUG_TAKEN, 'mcp_slug_taken');
    changes.slug = body.slug;
  }
  const c = body.config;
  if (c?.url !== undefined && c.url !== server.url) changes.url = c.url;
  if (c?.headers !== undefined) Object.assign(changes, await headerColumns(deps.env, server.id, c.headers));
  if (changes.url !== undefined || c?.headers !== undefined) Object.assign(changes, { status: 'stopped', lastError: null });
  try {
    const [updated] = await deps.db.update(mcpServers).set(changes).where(eq(mcpServers.id, server.id)).returning();
    return updated;
  } catch (err) {
    if (isSlugConflict(err)) throw conflict(SLUG_TAKEN, 'mcp_slug_taken');
    throw err;
  }
}

export async function deleteServer(db: Db, userId: string, serverId: string): Promise<void> {
  const server = await ownServer(db, userId, serverId);
  await db.delete(mcpServers).where(eq(mcpServers.id, server.id));
}

export async function serverList(db: Db, userId: string, limit: number, cursor: string | undefined) {
  return listServers(db, userId, limit, cursor);
}

export async function serverLogs(db: Db, userId: string, serverId: string, limit: number, cursor: string | undefined) {
  const server = await ownServer(db, userId, serverId);
  return listLogs(db, server.id, limit, cursor);
}

/** Where to connect, or why not: the URL is checked again (the rules may be stricter now) and the headers opened. */
async function targetOf(env: Env, server: McpServerRow): Promise<McpTarget | { error: string }> {
  const cfg = config(env);
  const refused = outboundUrlError(server.url, cfg.outboundAllowLoopback);
  if (refused) return { error: `refused: ${refused}` };
  let headers: Record<string, string> = {};
  if (server.headersEnc) {
    const opened = await decryptHeaders(headersKey(env), server.id, server.headersEnc);
    if (!opened) return { error: 'the stored header values cannot be decrypted (MCP_HEADERS_KEY changed?): set config.headers again' };
    headers = opened;
  }
  return { url: server.url, headers, timeoutMs: cfg.webhookTimeoutMs };
}

/** Start and restart: connect, initialize, list the tools; `running` with them, or `error` and 502. */
export async function connectServer(deps: DataDeps, userId: string, serverId: string, restart: boolean): Promise<McpServerRow> {
  const server = await ownServer(deps.db, userId, serverId);
  const logMax = config(deps.env).tools.mcpLogMax;
  const target = await targetOf(deps.env, server);
  let failure: string;
  if ('error' in target) failure = target.error;
  else {
    try {
      const listed = await listTools(target);
      const changes = { status: 'running' as const, capabilities: JSON.stringify(listed.capabilities), tools: JSON.stringify(listed.tools), lastError: null, updatedAt: Math.max(Date.now(), server.updatedAt + 1) };
      const message = `${restart ? 'restarted' : 'started'}: ${listed.server}, ${listed.tools.length} tool${listed.tools.length === 1 ? '' : 's'}`;
      // A stop or a change made while connecting wins: the answer is the row as it is now.
      if (await updateWithLog(deps.db, server.id, changes, 'connected', message, logMax, server.updatedAt)) return { ...server, ...changes };
      return ownServer(deps.db, userId, server.id);
    } catch (err) {
      failure = describeFailure(err);
    }
  }
  const failed = { status: 'error' as const, lastError: failure, updatedAt: Math.max(Date.now(), server.updatedAt + 1) };
  await updateWithLog(deps.db, server.id, failed, 'error', `${restart ? 'restart' : 'start'} failed: ${failure}`, logMax, server.updatedAt);
  throw new ApiError(502, 'mcp_unavailable', `The MCP server could not be reached or initialized: ${failure}`);
}

export async function stopServer(deps: DataDeps, userId: string, serverId: string): Promise<McpServerRow> {
  const server = await ownServer(deps.db, userId, serverId);
  const changes = { status: 'stopped' as const, updatedAt: Math.max(Date.now(), server.updatedAt + 1) };
  await updateWithLog(deps.db, server.id, changes, 'stopped', 'stopped: its tools are no longer offered to agents', config(deps.env).tools.mcpLogMax);
  return { ...server, ...changes };
}

// ---- For the agent run engine ----------------------------------------------------------------

export interface McpServerTools {
  slug: string;
  server_id: string;
  tools: McpTool[];
}

/** The stored tool lists of the user's running servers among `slugs` (unknown, stopped or failed ones are left out). */
export async function mcpToolsFor(db: Db, userId: string, slugs: string[]): Promise<McpServerTools[]> {
  const rows = await runningServers(db, userId, [...new Set(slugs)]);
  return rows.map((r) => ({ slug: r.slug, server_id: r.id, tools: JSON.parse(r.tools) as McpTool[] }));
}

export type McpCallResult = { ok: true; output: string } | { ok: false; error: string };

/**
 * Calls `toolName` on the user's running server `slug` with `args` (an object), connecting for the
 * call. Never throws for the model's or the server's faults: they come back as `{ok: false, error}`
 * for the model to read. Every call is logged on the server. The output is not capped here (the
 * engine caps it, TOOL_OUTPUT_MAX_BYTES).
 */
export async function callMcpTool(deps: DataDeps, userId: string, slug: string, toolName: string, args: unknown): Promise<McpCallResult> {
  const server = await serverBySlug(deps.db, userId, slug);
  if (!server) return { ok: false, error: `No MCP server "${slug}"` };
  if (server.status !== 'running') return { ok: false, error: `MCP server "${slug}" is not running` };
  if (args === undefined || args === null) args = {};
  if (typeof args !== 'object' || Array.isArray(args)) return { ok: false, error: 'Tool arguments must be a JSON object' };
  const logMax = config(deps.env).tools.mcpLogMax;
  let target: McpTarget | { error: string };
  try {
    target = await targetOf(deps.env, server);
  } catch (err) {
    target = { error: err instanceof ApiError ? err.msg : describeFailure(err) };
  }
  if ('error' in target) {
    await addLog(deps.db, server.id, 'tool_error', `${toolName}: ${target.error}`, logMax);
    return { ok: false, error: `MCP server "${slug}" cannot be called: ${target.error}` };
  }
  const started = Date.now();
  try {
    const res = await callTool(target, toolName, args as Record<string, unknown>);
    const took = Date.now() - started;
    if (res.isError) {
      await addLog(deps.db, server.id, 'tool_error', `${toolName}: the tool answered an error (${took} ms)`, logMax);
      return { ok: false, error: res.output || `The tool ${toolName} failed` };
    }
    await addLog(deps.db, server.id, 'tool_call', `${toolName}: ok, ${res.output.length} characters (${took} ms)`, logMax);
    return { ok: true, output: res.output };
  } catch (err) {
    const failure = describeFailure(err);
    await addLog(deps.db, server.id, 'tool_error', `${toolName}: ${failure}`, logMax);
    return { ok: false, error: `MCP tool ${slug}:${toolName} failed: ${failure}` };
  }
}
