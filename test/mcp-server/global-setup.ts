// vitest globalSetup (Node, before the Workers pool starts): the local MCP server
// (test/mcp-server/server.mjs) on a free port; vitest.config.ts hands its URL to the Worker as
// MCP_SERVER_URL.
import type { TestProject } from 'vitest/node';
import { startMcpServer } from './server.mjs';

declare module 'vitest' {
  export interface ProvidedContext {
    mcpServerUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const server = await startMcpServer();
  project.provide('mcpServerUrl', server.url);
  return async () => {
    await server.close();
  };
}
