import { z } from '@hono/zod-openapi';
import { AGENT_NOT_FOUND } from '../agents/service';
import { nextCursorSchema } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, jsonRequest, okJson } from '../lib/router';
import {
  agentParams,
  CATEGORY_ERROR,
  CONTENT_MAX,
  CONTENT_TOO_LONG,
  DEFAULT_CATEGORY,
  listMemoriesQuery,
  Memory,
  memoryInput,
  memoryParams,
  memoryPatch,
  MemoryStats,
  MISSING_CONTENT,
} from './schemas';
import { editMemory, forgetMemory, listAgentMemories, MEMORY_NOT_FOUND, memoryStats, rememberMemory } from './service';

const One = z.object({ memory: Memory });
const Msg = z.object({ msg: z.string() });

export const memoryRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/agents/{agent_id}/memories',
      tags: ['Memories'],
      summary: 'Give an agent a memory of you',
      operationId: 'createMemory',
      description: `Stores a memory that this agent keeps of you, across all your chats with it: \`content\` (1 to ${CONTENT_MAX} characters) and \`category\` (default \`${DEFAULT_CATEGORY}\`). The agent's \`remember\` tool stores them the same way. 404 \`Agent not found\` for another user's, a deleted or an unknown agent.`,
      request: { params: agentParams, body: jsonRequest(memoryInput) },
      responses: {
        201: okJson(One, 'Created'),
        400: errorResponse('Missing JSON in request', MISSING_CONTENT, CONTENT_TOO_LONG, CATEGORY_ERROR, 'Unknown field: ...'),
        404: errorResponse(AGENT_NOT_FOUND),
      },
    }),
    async (c) => c.json({ memory: await rememberMemory(c.get('db'), c.get('user').id, c.req.valid('param').agent_id, c.req.valid('json')) }, 201),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}/memories',
      tags: ['Memories'],
      summary: 'The memories an agent keeps of you, newest first',
      operationId: 'listMemories',
      description:
        'The memories this agent keeps of you, newest first by creation, optionally only one `category` (exact match); `limit` and `cursor` as every list. 404 `Agent not found` for another user\'s, a deleted or an unknown agent.',
      request: { params: agentParams, query: listMemoriesQuery },
      responses: {
        200: okJson(z.object({ memories: z.array(Memory), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100', CATEGORY_ERROR),
        404: errorResponse(AGENT_NOT_FOUND),
      },
    }),
    async (c) => {
      const { agent_id } = c.req.valid('param');
      return c.json(await listAgentMemories(c.get('db'), c.get('user').id, agent_id, c.req.valid('query')), 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agents/{agent_id}/memory-stats',
      tags: ['Memories'],
      summary: 'How many memories an agent keeps of you, per category',
      operationId: 'getMemoryStats',
      description:
        'The memories this agent keeps of you: `total`, `by_category` (count per category), `bytes` (their content in UTF-8) and the creation times of the `oldest` and `newest` (null when there are none). 404 `Agent not found`.',
      request: { params: agentParams },
      responses: { 200: okJson(z.object({ stats: MemoryStats })), 404: errorResponse(AGENT_NOT_FOUND) },
    }),
    async (c) => c.json({ stats: await memoryStats(c.get('db'), c.get('user').id, c.req.valid('param').agent_id) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/agents/memories/{memory_id}',
      tags: ['Memories'],
      summary: 'Change a memory\'s content or category',
      operationId: 'updateMemory',
      description: `Changes \`content\` (1 to ${CONTENT_MAX} characters) and/or \`category\`; a field left out stays as it is (\`{}\` changes nothing but \`updated_at\`). \`updated_at\` moves; the memory keeps its place (lists are by creation). 404 \`Memory not found\` for another user's or an unknown memory, or one whose agent was deleted.`,
      request: { params: memoryParams, body: jsonRequest(memoryPatch) },
      responses: {
        200: okJson(One),
        400: errorResponse('Missing JSON in request', MISSING_CONTENT, CONTENT_TOO_LONG, CATEGORY_ERROR, 'Unknown field: ...'),
        404: errorResponse(MEMORY_NOT_FOUND),
      },
    }),
    async (c) => c.json({ memory: await editMemory(c.get('db'), c.get('user').id, c.req.valid('param').memory_id, c.req.valid('json')) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/agents/memories/{memory_id}',
      tags: ['Memories'],
      summary: 'Delete a memory',
      operationId: 'deleteMemory',
      description:
        'Deletes the memory: the agent no longer sees it in its prompt or through `recall`. 404 `Memory not found` for another user\'s or an unknown memory, or one whose agent was deleted.',
      request: { params: memoryParams },
      responses: { 200: okJson(Msg), 404: errorResponse(MEMORY_NOT_FOUND) },
    }),
    async (c) => {
      await forgetMemory(c.get('db'), c.get('user').id, c.req.valid('param').memory_id);
      return c.json({ msg: 'Memory deleted' }, 200);
    },
  );
