// Types of server.mjs (plain JavaScript, so that scripts and the e2e check run it with bare Node).
export interface McpTestServer {
  /** `http://127.0.0.1:PORT`; MCP at `${url}/mcp`, and with a bearer token at `${url}/auth/mcp`. */
  url: string;
  port: number;
  close(): Promise<void>;
}
export const AUTH_TOKEN: string;
export function startMcpServer(options?: { port?: number; host?: string }): Promise<McpTestServer>;
