import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import {
  createServerBody,
  listQuery,
  logJson,
  McpLog,
  McpServer,
  OneServer,
  serverJson,
  serverParams,
  SLUG_ERROR,
  updateServerBody,
  URL_REQUIRED,
} from './schemas';
import {
  COMMAND_UNSUPPORTED,
  connectServer,
  createServer,
  deleteServer,
  HEADERS_KEY_MISSING,
  ownServer,
  serverList,
  serverLogs,
  SERVER_NOT_FOUND,
  SLUG_TAKEN,
  stopServer,
  updateServer,
} from './service';

const TAG = 'MCP servers';
const notFound = { 404: errorResponse(SERVER_NOT_FOUND) };
const unavailable = { 502: errorResponse('The MCP server could not be reached or initialized: ...') };
const BODY_ERRORS = [
  'Missing JSON in request',
  'Missing name parameter',
  SLUG_ERROR,
  URL_REQUIRED,
  'config.url must use https',
  'config.url must not point to a private, loopback or reserved address',
  COMMAND_UNSUPPORTED,
  'Unknown field: ...',
];
const HEADERS_DOC =
  '`config.headers` (e.g. `Authorization`) are secrets: encrypted at rest (AES-GCM under the MCP_HEADERS_KEY secret) and never returned; answers list `config.header_names`. Headers without MCP_HEADERS_KEY configured: 503 `config_invalid` naming it.';
const URL_DOC =
  '`config.url` is the server\'s Streamable HTTP endpoint and goes through the outbound URL check (public https; no loopback, private or reserved addresses; redirects are never followed): a refused URL is 400 `validation_error` on `config.url`. `config.command` (a local stdio server) is 400 `mcp_command_unsupported`: a Worker cannot start processes, so servers are remote.';
const CONNECT_DOC =
  'A Worker keeps no connection between requests: `running` means the server answered and its tools are stored and offered to your agents (as `mcp:<slug>:<tool>`); each tool call connects anew.';

const param = { params: serverParams };

export const mcpRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/mcp-servers',
      tags: [TAG],
      summary: 'Your MCP servers, newest first',
      operationId: 'listMcpServers',
      description: 'Your registered MCP servers, newest first; `limit` and `cursor` as every list. Header values are never shown.',
      request: { query: listQuery },
      responses: {
        200: okJson(z.object({ servers: z.array(McpServer), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = await serverList(c.get('db'), c.get('user').id, limit, cursor);
      return c.json({ servers: items.map(serverJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/mcp-servers',
      tags: [TAG],
      summary: 'Register a remote MCP server',
      operationId: 'createMcpServer',
      description: `Registers a remote MCP server (status \`stopped\`; \`start\` connects it). \`slug\` names it in tool names and is unique among your servers (409 \`mcp_slug_taken\`). ${URL_DOC} ${HEADERS_DOC}`,
      request: { body: jsonRequest(createServerBody) },
      responses: {
        201: okJson(OneServer, 'Created'),
        400: errorResponse(...BODY_ERRORS),
        409: errorResponse(SLUG_TAKEN),
        503: errorResponse(HEADERS_KEY_MISSING),
      },
    }),
    async (c) => c.json({ server: serverJson(await createServer({ db: c.get('db'), env: c.env }, c.get('user').id, c.req.valid('json'))) }, 201),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/mcp-servers/{server_id}',
      tags: [TAG],
      summary: 'One MCP server: its status, capabilities and tools',
      operationId: 'getMcpServer',
      description: 'One of your MCP servers. Another user\'s or an unknown server is 404.',
      request: param,
      responses: { 200: okJson(OneServer), ...notFound },
    }),
    async (c) => c.json({ server: serverJson(await ownServer(c.get('db'), c.get('user').id, c.req.valid('param').server_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/mcp-servers/{server_id}',
      tags: [TAG],
      summary: 'Change an MCP server\'s name, slug, URL or headers',
      operationId: 'updateMcpServer',
      description: `Changes the fields given: \`name\`, \`slug\` (409 \`mcp_slug_taken\`), \`config.url\`, \`config.headers\` (replaces every stored header; \`{}\` removes them; left out, the stored ones stay, since no answer shows them). A new URL or new headers stop the server: start it again to list its tools. ${URL_DOC} ${HEADERS_DOC}`,
      request: { ...param, body: jsonRequest(updateServerBody) },
      responses: {
        200: okJson(OneServer),
        400: errorResponse(...BODY_ERRORS.filter((m) => m !== URL_REQUIRED)),
        ...notFound,
        409: errorResponse(SLUG_TAKEN),
        503: errorResponse(HEADERS_KEY_MISSING),
      },
    }),
    async (c) =>
      c.json({ server: serverJson(await updateServer({ db: c.get('db'), env: c.env }, c.get('user').id, c.req.valid('param').server_id, c.req.valid('json'))) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/mcp-servers/{server_id}',
      tags: [TAG],
      summary: 'Delete an MCP server and its logs',
      operationId: 'deleteMcpServer',
      description: 'Deletes the server, its stored headers and its logs. Agents naming its tools find them missing from then on.',
      request: param,
      responses: { 200: okJson(z.object({ msg: z.string().openapi({ example: 'MCP server deleted' }) })), ...notFound },
    }),
    async (c) => {
      await deleteServer(c.get('db'), c.get('user').id, c.req.valid('param').server_id);
      return c.json({ msg: 'MCP server deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/mcp-servers/{server_id}/start',
      tags: [TAG],
      summary: 'Connect to the server, initialize and list its tools',
      operationId: 'startMcpServer',
      description: `Connects over Streamable HTTP, initializes and lists the tools: status \`running\` with \`capabilities\` and \`tools\`. ${CONNECT_DOC} A failure (unreachable, refused URL, an HTTP error, a bad answer) sets status \`error\` and \`last_error\`, is logged, and answers 502 \`mcp_unavailable\`.`,
      request: param,
      responses: { 200: okJson(OneServer), ...notFound, ...unavailable, 503: errorResponse(HEADERS_KEY_MISSING) },
    }),
    async (c) => c.json({ server: serverJson(await connectServer({ db: c.get('db'), env: c.env }, c.get('user').id, c.req.valid('param').server_id, false)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/mcp-servers/{server_id}/stop',
      tags: [TAG],
      summary: 'Stop offering the server\'s tools to agents',
      operationId: 'stopMcpServer',
      description: 'Status `stopped`: its tools are no longer offered to or callable by agents. The last tool list stays visible.',
      request: param,
      responses: { 200: okJson(OneServer), ...notFound },
    }),
    async (c) => c.json({ server: serverJson(await stopServer({ db: c.get('db'), env: c.env }, c.get('user').id, c.req.valid('param').server_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/mcp-servers/{server_id}/restart',
      tags: [TAG],
      summary: 'Reconnect and list the tools again',
      operationId: 'restartMcpServer',
      description: `Like start, whatever the status: reconnects, initializes and lists the tools again (the server may have changed them). ${CONNECT_DOC} A failure sets status \`error\` and answers 502 \`mcp_unavailable\`.`,
      request: param,
      responses: { 200: okJson(OneServer), ...notFound, ...unavailable, 503: errorResponse(HEADERS_KEY_MISSING) },
    }),
    async (c) => c.json({ server: serverJson(await connectServer({ db: c.get('db'), env: c.env }, c.get('user').id, c.req.valid('param').server_id, true)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/mcp-servers/{server_id}/logs',
      tags: [TAG],
      summary: 'The server\'s connection events and tool calls, newest first',
      operationId: 'listMcpServerLogs',
      description:
        'Connection events (`connected`, `stopped`, `error`) and tool calls (`tool_call`, `tool_error`) of the server, newest first; `limit` and `cursor` as every list. Only the newest MCP_LOG_MAX entries per server are kept. Header values and tool arguments are never logged.',
      request: { ...param, query: listQuery },
      responses: {
        200: okJson(z.object({ logs: z.array(McpLog), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
        ...notFound,
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = await serverLogs(c.get('db'), c.get('user').id, c.req.valid('param').server_id, limit, cursor);
      return c.json({ logs: items.map(logJson), next_cursor: nextCursor }, 200);
    },
  );
