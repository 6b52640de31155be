import { z } from '@hono/zod-openapi';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import { CHAT_NOT_FOUND } from '../chats/service';
import { createProcessBody, Execution, executionJson, Process, processJson, processWithSecret, updateProcessBody } from './schemas';
import {
  createProcess,
  listProcessExecutions,
  listUserProcesses,
  ownProcess,
  patchProcess,
  PROCESS_LIMIT,
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
      operationId: 'createProcess',
      description:
        'Creates a process: `trigger_type` `manual` (runs only through `POST /processes/{process_id}/execute`) or `time_based` with a 5-field cron `schedule` read in `timezone` (IANA, default UTC); and an `action`: `create_task` (a `task` as `POST /tasks` takes it), `post_message` (to one of your chats) or `webhook` (a public https URL). A webhook action\'s signing secret (`webhook_secret`) appears in this answer only: keep it. 400 for a bad schedule, time zone or URL; 404 for a workspace, chat or agent that is not yours.',
      request: { body: jsonRequest(createProcessBody) },
      responses: {
        201: okJson(One),
        400: errorResponse(...PROCESS_400),
        404: errorResponse(WORKSPACE_NOT_FOUND, CHAT_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(PROCESS_LIMIT),
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
      operationId: 'listProcesses',
      description:
        'The signed-in user\'s processes, newest first, with `next_run_at` and `last_execution`; `limit` and `cursor` as every list. Webhook secrets are never listed.',
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
      operationId: 'getProcess',
      description:
        'One process (without its webhook secret). Another user\'s process is 404 `Process not found`.',
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
      operationId: 'updateProcess',
      description:
        'Changes only the fields sent. Changing the schedule, time zone, trigger or `is_active` recomputes `next_run_at` from now; `is_active: false` pauses a time_based process. Changing to a webhook action answers its new secret, once. 404 `Process not found`.',
      request: { params, body: jsonRequest(updateProcessBody) },
      responses: {
        200: okJson(One),
        400: errorResponse(...PROCESS_400),
        404: errorResponse(PROCESS_NOT_FOUND, WORKSPACE_NOT_FOUND, CHAT_NOT_FOUND, AGENT_NOT_FOUND),
        409: errorResponse(PROCESS_LIMIT),
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
      operationId: 'deleteProcess',
      description:
        'Deletes the process and its executions. 404 `Process not found`.',
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
      operationId: 'executeProcess',
      description:
        'Runs the action now, whatever the trigger and even when inactive, and answers 201 with the finished execution (`success` or `failed` with its message). The schedule is not changed. 404 `Process not found`.',
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
      operationId: 'listProcessExecutions',
      description:
        'The runs of one process, newest first: scheduled ones carry `due_at`, manual ones null. `limit` and `cursor` as every list. 404 `Process not found`.',
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
