import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/cfworker';

/**
 * One connection to a remote MCP server over Streamable HTTP, through the official SDK's client.
 * A Worker holds no connection between requests, so every start, restart and tool call connects,
 * initializes, does its work and closes. The SDK's default JSON Schema validator (ajv) compiles
 * with `eval`, which workerd refuses (listTools fails once a tool has an outputSchema); the
 * @cfworker/json-schema validator interprets instead. Redirects are never followed (the outbound
 * URL rule, src/lib/outbound-url.ts): a 3xx answer is a failure.
 */

export interface McpTool {
  name: string;
  description: string | null;
  input_schema: Record<string, unknown>;
  output_schema?: Record<string, unknown>;
}

export interface McpTarget {
  url: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

const noRedirects = (url: string | URL, init?: RequestInit) => fetch(url, { ...init, redirect: 'manual' });

async function withClient<T>(target: McpTarget, fn: (client: Client) => Promise<T>): Promise<T> {
  const transport = new StreamableHTTPClientTransport(new URL(target.url), {
    requestInit: { headers: target.headers },
    fetch: noRedirects,
  });
  const client = new Client({ name: 'agentedge', version: '0.1.0' }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  try {
    await client.connect(transport, { timeout: target.timeoutMs });
    return await fn(client);
  } finally {
    // Best effort: a session the server handed out is ended, then the transport closed.
    await transport.terminateSession().catch(() => {});
    await client.close().catch(() => {});
  }
}

/** Initializes and lists every tool (following `nextCursor`, at most 20 pages). */
export function listTools(target: McpTarget): Promise<{ capabilities: Record<string, unknown>; tools: McpTool[]; server: string }> {
  return withClient(target, async (client) => {
    const tools: McpTool[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 20; i++) {
      const res = await client.listTools(cursor ? { cursor } : undefined, { timeout: target.timeoutMs });
      for (const t of res.tools) {
        tools.push({
          name: t.name,
          description: t.description ?? null,
          input_schema: t.inputSchema as Record<string, unknown>,
          ...(t.outputSchema ? { output_schema: t.outputSchema as Record<string, unknown> } : {}),
        });
      }
      cursor = res.nextCursor;
      if (!cursor) break;
    }
    const info = client.getServerVersion();
    return {
      capabilities: (client.getServerCapabilities() ?? {}) as Record<string, unknown>,
      tools,
      server: info ? `${info.name} ${info.version}` : 'unknown server',
    };
  });
}

/** Calls one tool: its text content joined (or its structured content as JSON when it has no text), and whether it is an error result. */
export function callTool(target: McpTarget, name: string, args: Record<string, unknown>): Promise<{ isError: boolean; output: string }> {
  return withClient(target, async (client) => {
    const res = await client.callTool({ name, arguments: args }, undefined, { timeout: target.timeoutMs });
    const content = Array.isArray(res.content) ? res.content : [];
    const text = content
      .map((c) => (c.type === 'text' ? c.text : JSON.stringify(c)))
      .join('\n');
    const output = text || (res.structuredContent !== undefined ? JSON.stringify(res.structuredContent) : 'toolResult' in res ? JSON.stringify(res.toolResult) : '');
    return { isError: res.isError === true, output };
  });
}

/** An SDK or network failure as one line for `last_error` and the logs. */
export function describeFailure(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s+/g, ' ').trim().slice(0, 500) || 'unknown error';
}
