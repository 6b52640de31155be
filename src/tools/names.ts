/**
 * The names in an agent's `tools` array, and what kind of tool each is: one of the built-ins
 * (src/tools/builtin.ts), an MCP server's tool (`mcp:<server-slug>:<tool>`), or any other name, a
 * client tool. Built-in names and the `mcp:` prefix are reserved. Imports nothing, so the
 * agent and package schemas can check entries without pulling in the tools themselves.
 */
export const BUILTIN_NAMES = ['create_task', 'list_tasks', 'update_task', 'remember', 'recall', 'ask_agent'] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];
export const isBuiltin = (name: string): name is BuiltinName => (BUILTIN_NAMES as readonly string[]).includes(name);

/** `mcp:<server-slug>:<tool>` (a slug as POST /mcp-servers takes it). */
export const MCP_ENTRY = /^mcp:([a-z0-9][a-z0-9-]{0,62}):(.+)$/;

export type ToolKind = 'builtin' | 'mcp' | 'client';
export const toolKind = (name: string): ToolKind => (isBuiltin(name) ? 'builtin' : name.startsWith('mcp:') ? 'mcp' : 'client');
