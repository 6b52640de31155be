import { z } from '@hono/zod-openapi';
import { ApiError } from '../lib/errors';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { workspaceParams } from '../workspaces/schemas';
import { NOT_OWNER, WORKSPACE_NOT_FOUND } from '../workspaces/service';
import {
  Agent,
  agentIdBody,
  agentJson,
  agentParams,
  AgentWithDefinition,
  agentWithDefinitionJson,
  downloadQuery,
  MISSING_AGENT_ID,
  MISSING_QUERY,
  Msg,
} from './schemas';
import {
  addAgentToWorkspace,
  AGENT_NOT_FOUND,
  installPackage,
  listOwnAgents,
  ownAgent,
  removeAgentFromWorkspace,
  uninstallAgent,
} from './service';

const text = (description: string) => ({ description, content: { 'text/plain': { schema: z.string() } } });
const workspaceAgentErrors = {
  400: errorResponse('Missing JSON in request', MISSING_AGENT_ID),
  403: errorResponse(NOT_OWNER),
  404: errorResponse(WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
};

export const agentRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/download',
      tags: ['Agents'],
      summary: 'Install a package into your agents',
      operationId: 'installAgent',
      description:
        'Upstream contract: installs `query` (a package name) at `version`, or at its highest SemVer version when `version` is absent, into the signed-in user\'s agents; installing a newer version replaces the agent in place, keeping its `agent_id`. Answers are plain text (`Successfully installed <name>:<version>`, 404 `Package not found: ...`), except the 400 for a missing `query`, which is JSON with the contract\'s `error` field.',
      request: { query: downloadQuery },
      responses: {
        200: text('Successfully installed <name>:<resolved version>'),
        400: { description: MISSING_QUERY, content: { 'application/json': { schema: z.object({ error: z.string(), msg: z.string() }) } } },
        404: text('Package not found: <name>:<version or "latest">'),
        500: text('Failed to download package: <name>:<version>, <reason>'),
        503: text('Failed to download package: <name>:<version>, storage is unavailable'),
      },
    }),
    async (c) => {
      const installed = await installPackage(depsOf(c), c.get('user').id, c.req.valid('query'));
      return c.text(installed.text, installed.status);
    },
    // docs/conventions.md's one exception: this 400 carries the upstream contract's `error` beside the usual fields.
    (result) => {
      if (!result.success) throw new ApiError(400, 'missing_param', MISSING_QUERY, { error: MISSING_QUERY });
      return undefined;
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents',
      tags: ['Agents'],
      summary: 'Your installed agents, newest first, paginated',
      operationId: 'listAgents',
      description:
        'The agents the signed-in user installed with `GET /agent/download`, newest first; `limit` and `cursor` as every list.',
      request: { query: pageQuery },
      responses: {
        200: okJson(z.object({ agents: z.array(Agent), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { items, nextCursor } = await listOwnAgents(c.get('db'), c.get('user').id, c.req.valid('query'));
      return c.json({ agents: items.map(agentJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'One installed agent with its definition',
      operationId: 'getAgent',
      description:
        'One of your agents with its `definition` (the package\'s agent.json: system prompt, model, tools). Another user\'s agent is 404 `Agent not found`, like an unknown one.',
      request: { params: agentParams },
      responses: { 200: okJson(z.object({ agent: AgentWithDefinition })), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => {
      const agent = await ownAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id);
      return c.json({ agent: agentWithDefinitionJson(agent) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'Uninstall an agent (it leaves every workspace; tasks keep no agent)',
      operationId: 'uninstallAgent',
      description:
        'Removes the agent from your agents and from every workspace; tasks assigned to it keep no agent. The package stays in the registry. 404 `Agent not found`.',
      request: { params: agentParams },
      responses: { 200: okJson(Msg), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => {
      await uninstallAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id);
      return c.json({ msg: 'Agent deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/workspace/{workspace_id}/agent',
      tags: ['Workspaces'],
      summary: 'Add one of your agents to a workspace (adding twice is harmless)',
      operationId: 'addWorkspaceAgent',
      description:
        'Upstream contract: adds one of your installed agents (`agent_id` from `GET /agents`) to the workspace; adding it twice changes nothing. 404 `Workspace not found` or `Agent not found`; another user\'s workspace is 403.',
      request: { params: workspaceParams, body: jsonRequest(agentIdBody) },
      responses: { 200: okJson(Msg), ...workspaceAgentErrors },
    }),
    async (c) => {
      await addAgentToWorkspace(c.get('db'), c.get('user').id, c.req.valid('param').workspace_id, c.req.valid('json').agent_id);
      return c.json({ msg: 'Agent added to Workspace.' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/workspace/{workspace_id}/agent',
      tags: ['Workspaces'],
      summary: 'Remove an agent from a workspace (removing one that is not there is harmless)',
      operationId: 'removeWorkspaceAgent',
      description:
        'Upstream contract: removes the agent from the workspace (the agent stays installed); removing one that is not there changes nothing. Note the JSON body on a DELETE, as the contract has it. 404 `Workspace not found`; another user\'s workspace is 403.',
      request: { params: workspaceParams, body: jsonRequest(agentIdBody) },
      responses: { 200: okJson(Msg), ...workspaceAgentErrors },
    }),
    async (c) => {
      await removeAgentFromWorkspace(c.get('db'), c.get('user').id, c.req.valid('param').workspace_id, c.req.valid('json').agent_id);
      return c.json({ msg: 'Agent removed' }, 200);
    },
  );
