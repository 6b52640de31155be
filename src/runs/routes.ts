import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson } from '../lib/router';
import { listRunsQuery, Run, runJson, runParams, RunWithCalls, STATUS_ERROR, toolCallJson } from './schemas';
import { subRunsOf, toolCallsOf } from './queries';
import { listRuns, ownRun, RUN_NOT_FOUND } from './service';

export const runRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/runs',
      tags: ['Runs'],
      summary: 'Your agent runs, newest first, filtered and paginated',
      operationId: 'listRuns',
      description:
        'Your agents\' runs (one answer of one agent in one chat each), newest first, filtered by `agent_id`, `chat_id` and `status` (combined with AND); `limit` and `cursor` as every list. A filter on another user\'s agent or chat answers an empty list. Runs stay listed after their agent or chat is deleted.',
      request: { query: listRunsQuery },
      responses: {
        200: okJson(z.object({ runs: z.array(Run), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', STATUS_ERROR),
      },
    }),
    async (c) => {
      const { agent_id, chat_id, status, limit, cursor } = c.req.valid('query');
      const { items, nextCursor } = await listRuns(c.get('db'), c.get('user').id, { agentId: agent_id, chatId: chat_id, status, limit, cursor });
      return c.json({ runs: items.map(runJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/runs/{run_id}',
      tags: ['Runs'],
      summary: 'One run: its status, model, usage, error and timings',
      operationId: 'getRun',
      description:
        'One of your runs: `status` (`queued` and `running` are live), the model it ran on, the tokens it used, why it failed (`error.code`, one of docs/errors.md\'s run codes), its timings (`time_to_first_token_ms`, `duration_ms`), its tool calls (`tool_calls`, with the approval that held any) and the sub-runs its `ask_agent` calls started (`sub_runs`). Another user\'s or an unknown run is 404 `Run not found`.',
      request: { params: runParams },
      responses: { 200: okJson(RunWithCalls), 404: errorResponse(RUN_NOT_FOUND) },
    }),
    async (c) => {
      const userId = c.get('user').id;
      const run = await ownRun(c.get('db'), userId, c.req.valid('param').run_id);
      const [calls, subRuns] = await Promise.all([toolCallsOf(c.get('db'), userId, run.id), subRunsOf(c.get('db'), userId, run.id)]);
      return c.json({ run: { ...runJson(run), tool_calls: calls.map(toolCallJson), sub_runs: subRuns.map(runJson) } }, 200);
    },
  );
