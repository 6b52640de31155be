import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { runCleanupJobs } from '../outbox/outbox';
import {
  deleteWorkspace,
  insertWorkspace,
  listWorkspaces,
  renameWorkspace,
  type Workspace as WorkspaceRecord,
} from './queries';
import { ApiError } from '../lib/errors';
import { NO_ACCESS, NOT_OWNER, ownedWorkspace, WORKSPACE_NOT_FOUND } from './service';
import { newId } from '../lib/ids';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { AppEnv } from '../lib/types';

export const Workspace = z
  .object({
    workspace_id: z.string(),
    name: z.string(),
    owner: z.string(),
    created_at: z.string(),
    agents: z.array(z.string()),
  })
  .openapi('Workspace');

export const workspaceJson = (w: WorkspaceRecord) => ({
  workspace_id: w.id,
  name: w.name,
  owner: w.ownerId,
  created_at: iso(w.createdAt),
  agents: w.agents,
});

const NAME_MAX = 200;
const nameSchema = (missing: string) => requiredString(missing).max(NAME_MAX, { error: `name must be at most ${NAME_MAX} characters` });
const params = z.object({ workspace_id: z.string().openapi({ param: { name: 'workspace_id', in: 'path' } }) });
const Msg = z.object({ msg: z.string() });

const ownerOf = (c: Context<AppEnv>, id: string, foreign?: ApiError) =>
  ownedWorkspace(c.get('db'), c.get('user').id, id, foreign);

export const workspaceRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/workspace',
      tags: ['Workspaces'],
      summary: 'Create a workspace (default name "Untitled Workspace")',
      request: {
        body: {
          required: false,
          content: { 'application/json': { schema: z.object({ name: nameSchema('Missing name parameter').optional() }) } },
        },
      },
      responses: {
        200: okJson(z.object({ msg: z.string(), workspace: Workspace })),
        400: errorResponse('Missing JSON in request', 'Missing name parameter'),
      },
    }),
    async (c) => {
      const name = c.req.valid('json').name ?? 'Untitled Workspace';
      const w = await insertWorkspace(c.get('db'), { id: newId(), ownerId: c.get('user').id, name, now: Date.now() });
      return c.json({ msg: 'Workspace created', workspace: workspaceJson({ ...w, agents: [] }) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/workspace',
      tags: ['Workspaces'],
      summary: "The user's workspaces, newest first, paginated",
      request: { query: pageQuery },
      responses: {
        200: okJson(z.object({ workspaces: z.array(Workspace), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = page(await listWorkspaces(c.get('db'), c.get('user').id, limit, cursor), limit);
      return c.json({ workspaces: items.map(workspaceJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/workspace/{workspace_id}',
      tags: ['Workspaces'],
      summary: 'One workspace',
      request: { params },
      responses: {
        200: okJson(z.object({ workspace: Workspace })),
        403: errorResponse(NO_ACCESS),
        404: errorResponse(WORKSPACE_NOT_FOUND),
      },
    }),
    async (c) => {
      const w = await ownerOf(c, c.req.valid('param').workspace_id);
      return c.json({ workspace: workspaceJson(w) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/workspace/{workspace_id}',
      tags: ['Workspaces'],
      summary: 'Delete a workspace and everything in it',
      request: { params },
      responses: { 200: okJson(Msg), 403: errorResponse(NO_ACCESS), 404: errorResponse(WORKSPACE_NOT_FOUND) },
    }),
    async (c) => {
      const w = await ownerOf(c, c.req.valid('param').workspace_id);
      const jobs = await deleteWorkspace(c.get('db'), w.id, Date.now());
      if (jobs.length) c.executionCtx.waitUntil(runCleanupJobs(c.env, jobs));
      return c.json({ msg: 'Workspace deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/workspace/{workspace_id}/rename',
      tags: ['Workspaces'],
      summary: 'Rename a workspace',
      request: {
        params,
        body: { required: true, content: { 'application/json': { schema: z.object({ name: nameSchema('Missing name parameter') }) } } },
      },
      responses: {
        200: okJson(Msg),
        400: errorResponse('Missing JSON in request', 'Missing name parameter'),
        403: errorResponse(NOT_OWNER),
        404: errorResponse(WORKSPACE_NOT_FOUND),
      },
    }),
    async (c) => {
      const w = await ownerOf(c, c.req.valid('param').workspace_id, new ApiError(403, 'forbidden', NOT_OWNER));
      await renameWorkspace(c.get('db'), w.id, c.req.valid('json').name, Date.now());
      return c.json({ msg: 'Workspace renamed' }, 200);
    },
  );
