import { z } from '@hono/zod-openapi';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { createWorkspaceBody, MISSING_NAME, Msg, renameWorkspaceBody, Workspace, workspaceJson, workspaceParams as params } from './schemas';
import {
  createWorkspace,
  deleteOwnedWorkspace,
  listOwnWorkspaces,
  NO_ACCESS,
  NOT_OWNER,
  ownedWorkspace,
  renameOwnedWorkspace,
  WORKSPACE_NOT_FOUND,
} from './service';

export const workspaceRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/workspace',
      tags: ['Workspaces'],
      summary: 'Create a workspace (default name "Untitled Workspace")',
      request: { body: jsonRequest(createWorkspaceBody, false) },
      responses: {
        200: okJson(z.object({ msg: z.string(), workspace: Workspace })),
        400: errorResponse('Missing JSON in request', MISSING_NAME),
      },
    }),
    async (c) => {
      const w = await createWorkspace(c.get('db'), c.get('user').id, c.req.valid('json').name);
      return c.json({ msg: 'Workspace created', workspace: workspaceJson(w) }, 200);
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
      const { items, nextCursor } = await listOwnWorkspaces(c.get('db'), c.get('user').id, c.req.valid('query'));
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
      const w = await ownedWorkspace(c.get('db'), c.get('user').id, c.req.valid('param').workspace_id);
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
      await deleteOwnedWorkspace(depsOf(c), c.get('user').id, c.req.valid('param').workspace_id);
      return c.json({ msg: 'Workspace deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/workspace/{workspace_id}/rename',
      tags: ['Workspaces'],
      summary: 'Rename a workspace',
      request: { params, body: jsonRequest(renameWorkspaceBody) },
      responses: {
        200: okJson(Msg),
        400: errorResponse('Missing JSON in request', MISSING_NAME),
        403: errorResponse(NOT_OWNER),
        404: errorResponse(WORKSPACE_NOT_FOUND),
      },
    }),
    async (c) => {
      await renameOwnedWorkspace(c.get('db'), c.get('user').id, c.req.valid('param').workspace_id, c.req.valid('json').name);
      return c.json({ msg: 'Workspace renamed' }, 200);
    },
  );
