import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { iso } from '../lib/time';
import { AgentDefinition } from '../packages/manifest';
import type { AgentRow } from './queries';

export const Agent = z
  .object({
    agent_id: z.string(),
    name: z.string(),
    version: z.string(),
    description: z.string(),
    package: z.string(),
    created_at: z.string(),
    updated_at: z.string(),
  })
  .openapi('Agent');
export const AgentWithDefinition = Agent.extend({ definition: AgentDefinition });

export const agentJson = (a: AgentRow) => ({
  agent_id: a.id,
  name: a.name,
  version: a.version,
  description: a.description,
  package: a.packageName,
  created_at: iso(a.createdAt),
  updated_at: iso(a.updatedAt),
});
export const agentWithDefinitionJson = (a: AgentRow) => ({
  ...agentJson(a),
  definition: AgentDefinition.parse(JSON.parse(a.definition)),
});

export const MISSING_QUERY = "Missing param 'query'";
export const downloadQuery = z.object({
  query: z.string().min(1).openapi({ param: { name: 'query', in: 'query' }, example: 'research-assistant' }),
  version: z.string().optional().openapi({ param: { name: 'version', in: 'query' }, example: '1.2.3' }),
});
export const MISSING_AGENT_ID = 'Missing agent_id parameter';
export const agentIdBody = z
  .object({ agent_id: requiredString(MISSING_AGENT_ID).openapi({ description: 'An agent_id from GET /agents' }) })
  .openapi({ example: { agent_id: '0198f3a2-7c4e-7b1a-9d2e-3f4a5b6c7d8e' } });
export const agentParams = z.object({ agent_id: z.string().openapi({ param: { name: 'agent_id', in: 'path' } }) });
export const Msg = z.object({ msg: z.string() });
