import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { findPackageVersion, versionStrings } from '../packages/queries';
import {
  addWorkspaceAgent,
  deleteUserAgent,
  listUserAgents,
  removeWorkspaceAgent,
  upsertAgent,
  type AgentRow,
} from './queries';
import { ApiError, notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { AppEnv } from '../lib/types';
import { AgentDefinition, definitionOf, Manifest } from '../packages/manifest';
import { verifyArchive } from '../packages/registry';
import { highestVersion } from '../packages/semver';
import { AGENT_NOT_FOUND, NOT_OWNER, ownAgent, ownedWorkspace, WORKSPACE_NOT_FOUND } from '../workspaces/service';

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

const agentJson = (a: AgentRow) => ({
  agent_id: a.id,
  name: a.name,
  version: a.version,
  description: a.description,
  package: a.packageName,
  created_at: iso(a.createdAt),
  updated_at: iso(a.updatedAt),
});

const MISSING_QUERY = "Missing param 'query'";
const text = (description: string) => ({ description, content: { 'text/plain': { schema: z.string() } } });
const Msg = z.object({ msg: z.string() });
const agentParams = z.object({ agent_id: z.string().openapi({ param: { name: 'agent_id', in: 'path' } }) });
const workspaceParams = z.object({ workspace_id: z.string().openapi({ param: { name: 'workspace_id', in: 'path' } }) });
const agentBody = {
  required: true,
  content: { 'application/json': { schema: z.object({ agent_id: requiredString('Missing agent_id parameter') }) } },
} as const;
const workspaceAgentErrors = {
  400: errorResponse('Missing JSON in request', 'Missing agent_id parameter'),
  403: errorResponse(NOT_OWNER),
  404: errorResponse(WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
};
const seedForbidden = () => new ApiError(403, 'forbidden', NOT_OWNER);

/** Seed 000's checks for the workspace agent routes: the caller's workspace, then the caller's agent. */
async function workspaceAndAgent(c: Context<AppEnv>, workspaceId: string, agentId: string) {
  const db = c.get('db');
  const userId = c.get('user').id;
  const w = await ownedWorkspace(db, userId, workspaceId, seedForbidden());
  const agent = await ownAgent(db, userId, agentId);
  return { db, workspaceId: w.id, agentId: agent.id };
}

export const agentRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/download',
      tags: ['Agents'],
      summary: 'Install a package into your agents (seed 000; plain-text answers). No version: the highest semver',
      request: {
        query: z.object({
          query: z.string().min(1).openapi({ param: { name: 'query', in: 'query' }, example: 'research-assistant' }),
          version: z.string().optional().openapi({ param: { name: 'version', in: 'query' }, example: '1.2.3' }),
        }),
      },
      responses: {
        200: text('Successfully installed <name>:<resolved version>'),
        400: { description: MISSING_QUERY, content: { 'application/json': { schema: z.object({ error: z.string(), msg: z.string() }) } } },
        404: text('Package not found: <name>:<version or "latest">'),
        500: text('Failed to download package: <name>:<version>, <reason>'),
        503: text('Failed to download package: <name>:<version>, storage is unavailable'),
      },
    }),
    async (c) => {
      const db = c.get('db');
      const { query: name, version: asked } = c.req.valid('query');
      const version = asked || highestVersion(await versionStrings(db, name));
      const row = version ? await findPackageVersion(db, name, version) : null;
      if (!row) return c.text(`Package not found: ${name}:${asked || 'latest'}`, 404);
      const fetched = await verifyArchive(c.env, row);
      if (!fetched.ok) return c.text(`Failed to download package: ${name}:${row.version}, ${fetched.reason}`, fetched.status);
      const manifest = Manifest.parse(JSON.parse(row.manifest));
      await upsertAgent(db, {
        id: newId(),
        userId: c.get('user').id,
        packageName: row.name,
        version: row.version,
        name: manifest.name,
        description: manifest.description,
        definition: JSON.stringify(definitionOf(manifest)),
        now: Date.now(),
      });
      return c.text(`Successfully installed ${row.name}:${row.version}`, 200);
    },
    // API.md's one exception: this 400 carries seed 000's `error` beside the usual fields.
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
      request: { query: pageQuery },
      responses: {
        200: okJson(z.object({ agents: z.array(Agent), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = page(await listUserAgents(c.get('db'), c.get('user').id, limit, cursor), limit);
      return c.json({ agents: items.map(agentJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'One installed agent with its definition',
      request: { params: agentParams },
      responses: {
        200: okJson(z.object({ agent: Agent.extend({ definition: AgentDefinition }) })),
        404: errorResponse(AGENT_NOT_FOUND),
      },
    }),
    async (c) => {
      const a = await ownAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id);
      return c.json({ agent: { ...agentJson(a), definition: AgentDefinition.parse(JSON.parse(a.definition)) } }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/agents/{agent_id}',
      tags: ['Agents'],
      summary: 'Uninstall an agent (it leaves every workspace; tasks keep no agent)',
      request: { params: agentParams },
      responses: { 200: okJson(Msg), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => {
      if (!(await deleteUserAgent(c.get('db'), c.get('user').id, c.req.valid('param').agent_id))) {
        throw notFound(AGENT_NOT_FOUND, 'agent_not_found');
      }
      return c.json({ msg: 'Agent deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/workspace/{workspace_id}/agent',
      tags: ['Workspaces'],
      summary: 'Add one of your agents to a workspace (adding twice is harmless)',
      request: { params: workspaceParams, body: agentBody },
      responses: { 200: okJson(Msg), ...workspaceAgentErrors },
    }),
    async (c) => {
      const { db, workspaceId, agentId } = await workspaceAndAgent(c, c.req.valid('param').workspace_id, c.req.valid('json').agent_id);
      await addWorkspaceAgent(db, workspaceId, agentId, Date.now());
      return c.json({ msg: 'Agent added to Workspace.' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/workspace/{workspace_id}/agent',
      tags: ['Workspaces'],
      summary: 'Remove an agent from a workspace (removing one that is not there is harmless)',
      request: { params: workspaceParams, body: agentBody },
      responses: { 200: okJson(Msg), ...workspaceAgentErrors },
    }),
    async (c) => {
      const { db, workspaceId, agentId } = await workspaceAndAgent(c, c.req.valid('param').workspace_id, c.req.valid('json').agent_id);
      await removeWorkspaceAgent(db, workspaceId, agentId);
      return c.json({ msg: 'Agent removed' }, 200);
    },
  );
