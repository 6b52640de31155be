import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { AGENT_NOT_FOUND } from '../agents/service';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { createTaskBody, listTasksQuery, Task, taskJson, TaskStats, updateTaskBody } from './schemas';
import { cancelTask, createTask, listTasks, MOVE_REFUSED, ownTask, patchTask, RACED, removeTask, TASK_NOT_FOUND, taskStats } from './service';

const params = z.object({ task_id: z.string().openapi({ param: { name: 'task_id', in: 'path' } }) });
const One = z.object({ task: Task });

export const taskRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks',
      tags: ['Tasks'],
      summary: 'Create a task (not_started, in_progress or blocked)',
      request: { body: jsonRequest(createTaskBody) },
      responses: {
        201: okJson(One),
        400: errorResponse('Missing JSON in request', 'Missing title parameter', 'data must be at most 16384 bytes when serialized as JSON'),
        404: errorResponse(WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const row = await createTask(c.get('db'), c.get('user').id, c.req.valid('json'));
      return c.json({ task: taskJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks',
      tags: ['Tasks'],
      summary: "The user's tasks, newest first, filtered and paginated",
      description: 'due_after is inclusive, due_before exclusive; either excludes tasks without a due_date.',
      request: { query: listTasksQuery },
      responses: {
        200: okJson(z.object({ tasks: z.array(Task), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', 'status must be one of ...'),
      },
    }),
    async (c) => {
      const { limit, cursor, ...filters } = c.req.valid('query');
      const { items, nextCursor } = await listTasks(c.get('db'), c.get('user').id, filters, limit, cursor);
      return c.json({ tasks: items.map(taskJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/stats',
      tags: ['Tasks'],
      summary: 'Task counts by status and by priority (optionally in one workspace)',
      request: { query: z.object({ workspace_id: z.string().optional().openapi({ param: { name: 'workspace_id', in: 'query' } }) }) },
      responses: { 200: okJson(z.object({ stats: TaskStats })) },
    }),
    async (c) => c.json({ stats: await taskStats(c.get('db'), c.get('user').id, c.req.valid('query').workspace_id) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'One task',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => c.json({ task: taskJson(await ownTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'patch',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Change a task; status moves follow the move table, the same status is a no-op',
      request: { params, body: jsonRequest(updateTaskBody) },
      responses: {
        200: okJson(One),
        400: errorResponse('Missing JSON in request', 'title must not be empty'),
        404: errorResponse(TASK_NOT_FOUND, WORKSPACE_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(MOVE_REFUSED, RACED),
      },
    }),
    async (c) => {
      const row = await patchTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id, c.req.valid('json'));
      return c.json({ task: taskJson(row) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/tasks/{task_id}/cancel',
      tags: ['Tasks'],
      summary: 'Cancel a task (not from completed or cancelled)',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(TASK_NOT_FOUND), 409: errorResponse('Task is already cancelled', MOVE_REFUSED, RACED) },
    }),
    async (c) => c.json({ task: taskJson(await cancelTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/tasks/{task_id}',
      tags: ['Tasks'],
      summary: 'Delete a task (its files stay, unlinked)',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: errorResponse(TASK_NOT_FOUND) },
    }),
    async (c) => {
      await removeTask(c.get('db'), c.get('user').id, c.req.valid('param').task_id);
      return c.json({ msg: 'Task deleted' }, 200);
    },
  );
