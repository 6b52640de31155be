// A local MCP server over Streamable HTTP for tests and the wrangler dev check (e2e/mcp.e2e.mjs),
// built on the official SDK's server side (McpServer + StreamableHTTPServerTransport, stateless:
// a fresh server per request, JSON answers). Plain Node.
//
//   import { startMcpServer } from './test/mcp-server/server.mjs';
//   const server = await startMcpServer();   // { url, port, close() }; MCP at `${url}/mcp`
//   node test/mcp-server/server.mjs --port 8790
//
// Endpoints:
//   POST /mcp           the MCP server, open to anyone
//   POST /auth/mcp      the same, but only with `Authorization: Bearer mcp-test-token` (else 401)
//   POST /slow/mcp      the same, each answer 400 ms late (a start that is still connecting)
//   GET  /_headers      the headers of the last MCP request (tests check what the Worker sent)
//   anything else       404
// Tools: `echo` ({text}) answers the text; `add` ({a, b}) has an outputSchema ({sum}) and answers
// structuredContent; `fail` always answers an error result (isError).
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export const AUTH_TOKEN = 'mcp-test-token';

function mcpServer() {
  const server = new McpServer({ name: 'agentedge-test-mcp', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'Answers the text it is given', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  server.registerTool(
    'add',
    {
      description: 'Adds two numbers',
      inputSchema: { a: z.number(), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } }),
  );
  server.registerTool(
    'sleep',
    { description: 'Answers after ms milliseconds', inputSchema: { ms: z.number() } },
    async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: 'text', text: `slept ${ms}` }] };
    },
  );
  server.registerTool('fail', { description: 'Always fails' }, async () => ({
    content: [{ type: 'text', text: 'this tool always fails' }],
    isError: true,
  }));
  return server;
}

export async function startMcpServer({ port = 0, host = '127.0.0.1' } = {}) {
  let lastHeaders = {};
  const http = createServer(async (req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === '/_headers' && req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify(lastHeaders));
    }
    if (path !== '/mcp' && path !== '/auth/mcp' && path !== '/slow/mcp') {
      res.writeHead(404).end('not found');
      return;
    }
    lastHeaders = { ...req.headers };
    if (path === '/auth/mcp' && req.headers.authorization !== `Bearer ${AUTH_TOKEN}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ error: 'unauthorized' }));
    }
    if (req.method !== 'POST') {
      // Stateless: no standalone SSE stream and no sessions to end.
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    if (path === '/slow/mcp') await new Promise((r) => setTimeout(r, 400));
    const server = mcpServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      transport.close();
      server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res);
    } catch (err) {
      if (!res.headersSent) res.writeHead(500).end(String(err));
    }
  });
  await new Promise((resolve) => http.listen(port, host, resolve));
  const actual = http.address().port;
  return {
    url: `http://${host}:${actual}`,
    port: actual,
    close: () =>
      new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--port');
  const server = await startMcpServer({ port: i > 0 ? Number(process.argv[i + 1]) : 0 });
  console.log(`mcp server listening on ${server.url}`);
}
