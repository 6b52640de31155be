/** What the agent run engine uses of the MCP area. */
export { callMcpTool, mcpToolsFor, type McpCallResult, type McpServerTools } from './service';
export type { McpTool } from './connect';
