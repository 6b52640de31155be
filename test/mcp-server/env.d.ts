declare global {
  namespace Cloudflare {
    interface Env {
      /** The local MCP server (test/mcp-server/server.mjs) as `http://127.0.0.1:PORT`; MCP at `/mcp` and `/auth/mcp`. */
      MCP_SERVER_URL: string;
    }
  }
}
export {};
