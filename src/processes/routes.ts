import { z } from '@hono/zod-openapi';
import {
  deleteProcess,
  findOwnProcess,
  insertProcess,
  listExecutions,
  listProcesses,
  updateProcess,
  type ProcessInsert,
  type ProcessRow,
} from './queries';
import { notFound } from '../lib/errors';
import { newId } from '../lib/ids';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import type { Db } from '../db/client';
import { CHAT_NOT_FOUND, checkAction, nextRunAt, patchChanges } from './checks';
import { executeNow } from './execute';
import { createProcessBody, Execution, executionJson, Process, processJson, updateProcessBody } from './schemas';
import { newWebhookSecret } from './webhook';
import { AGENT_NOT_FOUND, ownWorkspace, WORKSPACE_NOT_FOUND } from '../workspaces/service';

export const PROCESS_NOT_FOUND = 'Process not found';

const params = z.object({ process_id: z.string().openapi({ param: { name: 'process_id', in: 'path' } }) });
const One = z.object({ process: Process });

async function ownProcess(db: Db, userId: string, id: string): Promise<ProcessRow> {
  const p = await findOwnProcess(db, userId, id);
  if (!p) throw notFound(PROCESS_NOT_FOUND, 'process_not_found');
  return p;
}

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
      const b = c.req.valid('json');
      const db = c.get('db');
      const userId = c.get('user').id;
      if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
      await checkAction(c.env, db, userId, b.action);
      const now = Date.now();
      const secret = b.action.type === 'webhook' ? newWebhookSecret() : null;
      const values = {
        id: newId(),
        userId,
        workspaceId: b.workspace_id ?? null,
        name: b.name,
        description: b.description ?? null,
        triggerType: b.trigger_type,
        schedule: b.schedule ?? null,
        timezone: b.timezone,
        isActive: b.is_active,
        action: JSON.stringify(b.action),
        webhookSecret: secret,
        createdAt: now,
        updatedAt: now,
      } satisfies ProcessInsert;
      const row = await insertProcess(db, { ...values, nextRunAt: nextRunAt(values, now) });
      return c.json({ process: { ...processJson(row), ...(secret ? { webhook_secret: secret } : {}) } }, 201);
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
      const { items, nextCursor } = page(await listProcesses(c.get('db'), c.get('user').id, limit, cursor), limit);
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
    async (c) => {
      const p = await ownProcess(c.get('db'), c.get('user').id, c.req.valid('param').process_id);
      return c.json({ process: processJson(p) }, 200);
    },
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
      const db = c.get('db');
      const userId = c.get('user').id;
      const p = await ownProcess(db, userId, c.req.valid('param').process_id);
      const b = c.req.valid('json');
      if (b.workspace_id) await ownWorkspace(db, userId, b.workspace_id);
      if (b.action) await checkAction(c.env, db, userId, b.action);
      const { changes, secret } = patchChanges(p, b, Date.now());
      const row = await updateProcess(db, p.id, changes);
      if (!row) throw notFound(PROCESS_NOT_FOUND, 'process_not_found');
      return c.json({ process: { ...processJson(row), ...(secret ? { webhook_secret: secret } : {}) } }, 200);
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
      const p = await ownProcess(c.get('db'), c.get('user').id, c.req.valid('param').process_id);
      await deleteProcess(c.get('db'), p.id);
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
      const p = await ownProcess(c.get('db'), c.get('user').id, c.req.valid('param').process_id);
      const execution = await executeNow(c.env, c.get('db'), p);
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
      const db = c.get('db');
      const p = await ownProcess(db, c.get('user').id, c.req.valid('param').process_id);
      const { limit, cursor } = c.req.valid('query');
      const rows = (await listExecutions(db, p.id, limit, cursor)).map((e) => ({ ...e, createdAt: e.startedAt }));
      const { items, nextCursor } = page(rows, limit);
      return c.json({ executions: items.map(executionJson), next_cursor: nextCursor }, 200);
    },
  );
