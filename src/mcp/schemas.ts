import { z } from '@hono/zod-openapi';
import { pageQuery } from '../lib/pagination';
import { iso } from '../lib/time';
import type { McpLogRow, McpServerRow } from './queries';

/** The MCP area's request and response schemas and serializers. Header values never appear in an answer. */

export const SLUG_ERROR = 'slug must be 1 to 63 lowercase letters, digits or hyphens, starting with a letter or digit';
export const NAME_ERROR = 'Missing name parameter';
export const URL_REQUIRED = 'Missing config.url parameter';
export const HEADERS_ERROR = 'config.headers must be an object of header names to string values';
export const HEADERS_MAX = 20;
const EXAMPLE_ID = '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e';

const name = z.string({ error: NAME_ERROR }).trim().min(1, { error: NAME_ERROR }).max(200, { error: 'name must be at most 200 characters' });
const slug = z
  .string({ error: (iss) => (iss.input === undefined ? 'Missing slug parameter' : SLUG_ERROR) })
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: SLUG_ERROR })
  .openapi({ example: 'github', description: 'Your name for it in tool names (`mcp:<slug>:<tool>`); unique among your servers' });

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headers = z
  .record(z.string(), z.string({ error: HEADERS_ERROR }).max(8192, { error: 'a header value must be at most 8192 characters' }), { error: HEADERS_ERROR })
  .refine((h) => Object.keys(h).every((k) => HEADER_NAME.test(k)), { error: 'config.headers names must be valid HTTP header names' })
  .refine((h) => Object.keys(h).length <= HEADERS_MAX, { error: `config.headers takes at most ${HEADERS_MAX} headers` })
  .openapi({ example: { Authorization: 'Bearer <token>' }, description: 'Sent with every request to the server. Secrets: encrypted at rest, never returned (answers list `header_names`)' });

/**
 * `command` (and its `args` and `env`) are known only to refuse them clearly: a Worker cannot start
 * processes (400 `mcp_command_unsupported`).
 */
const configFields = {
    url: z.string({ error: URL_REQUIRED }).min(1, { error: URL_REQUIRED }).max(2048, { error: 'config.url must be at most 2048 characters' }).optional().openapi({
      format: 'uri',
      example: 'https://mcp.example.com/mcp',
      description: 'The server\'s Streamable HTTP endpoint: public https (the one outbound URL check)',
    }),
    headers: headers.optional(),
    command: z.unknown().optional().openapi({ description: 'Refused: a Worker cannot start processes (400 `mcp_command_unsupported`)' }),
    args: z.unknown().optional().openapi({ description: 'Refused with `command`' }),
    env: z.unknown().optional().openapi({ description: 'Refused with `command`' }),
};
const config = z.object(configFields).openapi('McpServerConfigUpdate');
/**
 * On create `url` is required; the schema leaves it optional so that a `command` is refused with
 * its own code first (src/mcp/service.ts checkConfig), and the document says it is required.
 */
const createConfig = z.object(configFields).openapi('McpServerConfigInput', { required: ['url'] });

export const createServerBody = z
  .object({ name, slug, config: createConfig })
  .openapi('McpServerInput', { example: { name: 'GitHub', slug: 'github', config: { url: 'https://mcp.example.com/mcp', headers: { Authorization: 'Bearer <token>' } } } });
export type CreateServerInput = z.output<typeof createServerBody>;

export const updateServerBody = z
  .object({ name: name.optional(), slug: slug.optional(), config: config.optional() })
  .openapi('McpServerUpdate', { example: { name: 'GitHub (work)', config: { url: 'https://mcp.example.com/mcp' } } });
export type UpdateServerInput = z.output<typeof updateServerBody>;
export type ConfigInput = z.output<typeof config>;

export const serverParams = z.object({ server_id: z.string().openapi({ param: { name: 'server_id', in: 'path' }, example: EXAMPLE_ID }) });
export const listQuery = pageQuery;

const Tool = z
  .object({
    name: z.string(),
    description: z.string().nullable(),
    input_schema: z.record(z.string(), z.unknown()).openapi({ description: 'JSON Schema of the arguments' }),
    output_schema: z.record(z.string(), z.unknown()).optional().openapi({ description: 'JSON Schema of the structured result, when the tool declares one' }),
  })
  .openapi('McpTool');

export const McpServer = z
  .object({
    server_id: z.string(),
    name: z.string(),
    slug: z.string(),
    config: z.object({
      url: z.string(),
      header_names: z.array(z.string()).openapi({ description: 'The names of the stored headers; their values are never returned' }),
    }),
    status: z.enum(['stopped', 'running', 'error']).openapi({ description: '`running`: the last start or restart connected and listed the tools; `stopped`: new or stopped (its tools are not offered to agents); `error`: the last connection failed (`last_error`)' }),
    capabilities: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'What the server declared at its last successful start; null before one' }),
    tools: z.array(Tool).openapi({ description: 'The tools listed at the last successful start or restart' }),
    last_error: z.string().nullable(),
    created_at: z.string().openapi({ format: 'date-time' }),
    updated_at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('McpServer', {
    example: {
      server_id: EXAMPLE_ID,
      name: 'GitHub',
      slug: 'github',
      config: { url: 'https://mcp.example.com/mcp', header_names: ['Authorization'] },
      status: 'running',
      capabilities: { tools: { listChanged: true } },
      tools: [{ name: 'search_issues', description: 'Search issues', input_schema: { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] } }],
      last_error: null,
      created_at: '2027-03-01T09:00:00.000Z',
      updated_at: '2027-03-01T09:00:02.000Z',
    },
  });
export const OneServer = z.object({ server: McpServer });

export const McpLog = z
  .object({
    log_id: z.string(),
    kind: z.string().openapi({ description: '`connected`, `disconnected`, `stopped`, `error`, `tool_call` or `tool_error`' }),
    message: z.string(),
    at: z.string().openapi({ format: 'date-time' }),
  })
  .openapi('McpServerLog');

export function serverJson(s: McpServerRow): z.infer<typeof McpServer> {
  return {
    server_id: s.id,
    name: s.name,
    slug: s.slug,
    config: { url: s.url, header_names: JSON.parse(s.headerNames) as string[] },
    status: s.status,
    capabilities: s.capabilities ? (JSON.parse(s.capabilities) as Record<string, unknown>) : null,
    tools: JSON.parse(s.tools),
    last_error: s.lastError,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
  };
}

export const logJson = (l: McpLogRow): z.infer<typeof McpLog> => ({ log_id: l.id, kind: l.kind, message: l.message, at: iso(l.at) });
