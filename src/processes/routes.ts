import { z } from '@hono/zod-openapi';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { CHAT_NOT_FOUND } from './checks';
import { createProcessBody, Execution, executionJson, Process, processJson, processWithSecret, updateProcessBody } from './schemas';
import {
  createProcess,
  listProcessExecutions,
  listUserProcesses,
  ownProcess,
  patchProcess,
  PROCESS_NOT_FOUND,
  removeProcess,
  runProcessNow,
} from './service';
import { AGENT_NOT_FOUND } from '../agents/service';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';

const params = z.object({ process_id: z.string().openapi({ param: { name: 'process_id', in: 'path' } }) });
const One = z.object({ process: Process });

const PROCESS_400 = [
  'Missing JSON in request',
  'Missing name parameter',
  'Missing trigger_type parameter',
  'Missing schedule parameter',
  'Missing action parameter',
  'Invalid schedule: ...',
  'Invalid timezone',
  'url must use https',
];

export const processRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/processes',
      tags: ['Processes'],
      summary: 'Create an automated process (a webhook action shows its signing secret once, here)',
      request: { body: jsonRequest(createProcessBody) },
      responses: {
        201: okJson(One),
        400: errorResponse(...PROCESS_400),
        404: errorResponse(WORKSPACE_NOT_FOUND, CHAT_NOT_FOUND, AGENT_NOT_FOUND),
        413: errorResponse('Payload too large'),
      },
    }),
    async (c) => {
      const { row, secret } = await createProcess(depsOf(c), c.get('user').id, c.req.valid('json'));
      return c.json({ process: processWithSecret(row, secret) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/processes',
      tags: ['Processes'],
      summary: "The user's processes, newest first, paginated",
      request: { query: pageQuery },
      responses: {
        200: okJson(z.object({ processes: z.array(Process), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = await listUserProcesses(c.get('db'), c.get('user').id, limit, cursor);
      return c.json({ processes: items.map(processJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/processes/{process_id}',
      tags: ['Processes'],
      summary: 'One process',
      request: { params },
      responses: { 200: okJson(One), 404: errorResponse(PROCESS_NOT_FOUND) },
    }),
    async (c) => c.json({ process: processJson(await ownProcess(c.get('db'), c.get('user').id, c.req.valid('param').process_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'patch',
      path: '/processes/{process_id}',
      tags: ['Processes'],
      summary: 'Change a process; next_run_at is recomputed from now when the schedule, timezone, trigger or is_active change',
      request: { params, body: jsonRequest(updateProcessBody) },
      responses: {
        200: okJson(One),
        400: errorResponse(...PROCESS_400),
        404: errorResponse(PROCESS_NOT_FOUND, WORKSPACE_NOT_FOUND, CHAT_NOT_FOUND, AGENT_NOT_FOUND),
      },
    }),
    async (c) => {
      const { row, secret } = await patchProcess(depsOf(c), c.get('user').id, c.req.valid('param').process_id, c.req.valid('json'));
      return c.json({ process: processWithSecret(row, secret) }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/processes/{process_id}',
      tags: ['Processes'],
      summary: 'Delete a process and its execution history',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: errorResponse(PROCESS_NOT_FOUND) },
    }),
    async (c) => {
      await removeProcess(c.get('db'), c.get('user').id, c.req.valid('param').process_id);
      return c.json({ msg: 'Process deleted' }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/processes/{process_id}/execute',
      tags: ['Processes'],
      summary: 'Run a process now (also when inactive or manual) and return the execution',
      request: { params },
      responses: { 201: okJson(z.object({ execution: Execution })), 404: errorResponse(PROCESS_NOT_FOUND) },
    }),
    async (c) => {
      const execution = await runProcessNow(depsOf(c), c.get('user').id, c.req.valid('param').process_id);
      return c.json({ execution: executionJson(execution) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/processes/{process_id}/executions',
      tags: ['Processes'],
      summary: "A process's executions, newest first, paginated",
      request: { params, query: pageQuery },
      responses: {
        200: okJson(z.object({ executions: z.array(Execution), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
        404: errorResponse(PROCESS_NOT_FOUND),
      },
    }),
    async (c) => {
      const { limit, cursor } = c.req.valid('query');
      const id = c.req.valid('param').process_id;
      const { items, nextCursor } = await listProcessExecutions(c.get('db'), c.get('user').id, id, limit, cursor);
      return c.json({ executions: items.map(executionJson), next_cursor: nextCursor }, 200);
    },
  );
