import { z } from '@hono/zod-openapi';
import { ApiError } from '../lib/errors';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { workspaceParams } from '../workspaces/schemas';
import { NOT_OWNER, WORKSPACE_NOT_FOUND } from '../workspaces/service';
import {
  Agent,
  agentBody,
  agentIdBody,
  agentParams,
  agentPatch,
  CONFIG_MAX_BYTES,
  downloadQuery,
  listQuery,
  MISSING_AGENT_ID,
  MISSING_QUERY,
  Msg,
} from './schemas';
import {
  addAgentToWorkspace,
  AGENT_NOT_FOUND,
  createAgent,
  deleteAgent,
  editAgent,
  getAgent,
  installPackage,
  listOwnAgents,
  removeAgentFromWorkspace,
  setAgentStatus,
} from './service';

const One = z.object({ agent: Agent });
const CONFIG_TOO_LARGE = `config must be at most ${CONFIG_MAX_BYTES} bytes as JSON`;

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
      method: 'post',
      path: '/agents',
      tags: ['Agents'],
      summary: 'Create an agent',
      operationId: 'createAgent',
      description:
        'Creates an agent (status `idle`) and answers 201 with it. `model.provider` defaults to `openai-compatible` and `model.name` to the `LLM_MODEL` var; `tools` (stored for later use) to `[]`; `config` is a free-form JSON object of at most 16 KiB serialized. Unknown fields are 400 `unknown_field`.',
      request: { body: jsonRequest(agentBody) },
      responses: { 201: okJson(One, 'Created'), 400: errorResponse('Missing JSON in request', 'Missing name parameter', CONFIG_TOO_LARGE) },
    }),
    async (c) => c.json(await createAgent(depsOf(c), c.get('user').id, c.req.valid('json')), 201),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents',
      tags: ['Agents'],
      summary: 'Your agents, newest first, filtered and paginated',
      operationId: 'listAgents',
      description:
        'Your agents (created or installed; deleted ones never), newest first, filtered by `status`, `type` and `role` (exact matches); `limit` and `cursor` as every list.',
      request: { query: pageQuery.extend(listQuery.shape) },
      responses: {
        200: okJson(z.object({ agents: z.array(Agent), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', 'status must be one of idle, offline, running'),
      },
    }),
    async (c) => {
      const { items, nextCursor } = await listOwnAgents(c.get('db'), c.get('user').id, c.req.valid('query'));
      return c.json({ agents: items, next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'One agent',
      operationId: 'getAgent',
      description: "One of your agents. Another user's, a deleted or an unknown agent is 404 `Agent not found`.",
      request: { params: agentParams },
      responses: { 200: okJson(One), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json(await getAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'patch',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'Change some fields of an agent',
      operationId: 'updateAgent',
      description:
        'Changes the fields given and leaves the others as they are; `model`, `tools` and `config` are replaced whole when given (a `model` without `provider` or `name` takes their defaults). 404 `Agent not found`.',
      request: { params: agentParams, body: jsonRequest(agentPatch) },
      responses: { 200: okJson(One), 400: errorResponse('Missing JSON in request', CONFIG_TOO_LARGE), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json(await editAgent(depsOf(c), c.get('user').id, c.req.valid('param').agent_id, c.req.valid('json'), false), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'Replace an agent',
      operationId: 'replaceAgent',
      description:
        'Sets every field as `POST /agents` does: the required ones must be there, optional ones left out go back to their defaults. Status, package and version are kept. 404 `Agent not found`.',
      request: { params: agentParams, body: jsonRequest(agentBody) },
      responses: { 200: okJson(One), 400: errorResponse('Missing JSON in request', 'Missing name parameter', CONFIG_TOO_LARGE), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json(await editAgent(depsOf(c), c.get('user').id, c.req.valid('param').agent_id, c.req.valid('json'), true), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'Delete an agent (it leaves every workspace; tasks keep no agent)',
      operationId: 'deleteAgent',
      description:
        'Deletes the agent: from then on it is 404 everywhere. In one step it leaves every workspace and the tasks assigned to it keep no agent. Installing its package again gives a new agent. The package stays in the registry. 404 `Agent not found`.',
      request: { params: agentParams },
      responses: { 200: okJson(Msg), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => {
      await deleteAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id);
      return c.json({ msg: 'Agent deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/agents/{agent_id}/start',
      tags: ['Agents'],
      summary: 'Start an agent (status idle)',
      operationId: 'startAgent',
      description: 'Sets the agent\'s status to `idle` (starting a started agent changes nothing but `updated_at`). No body. 404 `Agent not found`.',
      request: { params: agentParams },
      responses: { 200: okJson(One), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json(await setAgentStatus(c.get('db'), c.get('user').id, c.req.valid('param').agent_id, 'idle'), 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/agents/{agent_id}/stop',
      tags: ['Agents'],
      summary: 'Stop an agent (status offline)',
      operationId: 'stopAgent',
      description: 'Sets the agent\'s status to `offline` (stopping a stopped agent changes nothing but `updated_at`). No body. 404 `Agent not found`.',
      request: { params: agentParams },
      responses: { 200: okJson(One), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json(await setAgentStatus(c.get('db'), c.get('user').id, c.req.valid('param').agent_id, 'offline'), 200),
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
