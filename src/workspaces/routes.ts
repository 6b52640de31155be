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
      operationId: 'createWorkspace',
      description:
        'Upstream contract: creates a workspace owned by the signed-in user and answers 200 (not 201) with it. The body is optional: without one, or without `name`, the workspace is called "Untitled Workspace".',
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
      operationId: 'listWorkspaces',
      description:
        'Upstream contract: the workspaces the signed-in user owns, newest first: `limit` (1 to 100, default 50) and `cursor` (the previous page\'s `next_cursor`).',
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
      operationId: 'getWorkspace',
      description:
        'Upstream contract: one workspace with the ids of its agents. 404 `Workspace not found`; another user\'s workspace is 403 `User does not have access to the workspace`.',
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
      operationId: 'deleteWorkspace',
      description:
        'Upstream contract: deletes the workspace with its chats (and their messages and sockets), tasks, processes and files, in one step; storage outside D1 is cleaned up right after. 404 for an unknown workspace, 403 for another user\'s.',
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
      operationId: 'renameWorkspace',
      description:
        'Upstream contract: sets the workspace\'s `name` (1 to 200 characters). 400 `Missing name parameter`; another user\'s workspace is 403 `User is not the owner of the workspace`.',
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
