import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getDb } from '../src/db/client';
import { memoriesForPrompt, PROMPT_HEADER, recallMemories, rememberMemory } from '../src/memories/service';
import { ApiError } from '../src/lib/errors';
import { call, expectError, newUser, type TestUser } from './helpers';

/**
 * Memories (issue 12, item 6): the routes, and the service functions the agent run calls as
 * built-in tools (`remember`, `recall`) and for its system prompt.
 */

const db = () => getDb(env);
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function newAgent(user: TestUser, name = 'Memo') {
  const res = await call('POST', '/agents', {
    token: user.token,
    body: { name, description: 'remembers', type: 'chat', role: 'assistant', system_prompt: 'You remember.' },
  });
  expect(res.status, res.text).toBe(201);
  return res.json.agent.agent_id as string;
}

const create = (user: TestUser, agentId: string, body: unknown) => call('POST', `/agents/${agentId}/memories`, { token: user.token, body });
const list = (user: TestUser, agentId: string, qs = '') => call('GET', `/agents/${agentId}/memories${qs}`, { token: user.token });

/** Seeds memories with known, distinct created_at values (oldest first in `contents`). */
async function seed(userId: string, agentId: string, contents: { content: string; category?: string }[], start = Date.UTC(2027, 0, 1)) {
  const ids: string[] = [];
  for (const [i, m] of contents.entries()) {
    const id = `mem-${crypto.randomUUID()}`;
    ids.push(id);
    await env.DB.prepare('INSERT INTO memories (id, user_id, agent_id, content, category, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .bind(id, userId, agentId, m.content, m.category ?? 'general', start + i * 1000, start + i * 1000)
      .run();
  }
  return ids;
}

async function expectApiError(p: Promise<unknown>, status: number, code: string) {
  const e = await p.then(
    () => null,
    (err) => err,
  );
  expect(e).toBeInstanceOf(ApiError);
  expect((e as ApiError).status).toBe(status);
  expect((e as ApiError).code).toBe(code);
}

describe('POST /agents/{agent_id}/memories', () => {
  it('stores a memory (category defaults to general) and answers 201 with it', async () => {
    const user = await newUser('mem-create');
    const agentId = await newAgent(user);
    const res = await create(user, agentId, { content: '  Prefers French  ' });
    expect(res.status, res.text).toBe(201);
    expect(res.json).toEqual({
      memory: {
        memory_id: expect.any(String),
        agent_id: agentId,
        content: 'Prefers French',
        category: 'general',
        created_at: expect.stringMatching(ISO),
        updated_at: res.json.memory.created_at,
      },
    });
    const withCategory = await create(user, agentId, { content: 'Lives in Lyon', category: 'facts' });
    expect(withCategory.status).toBe(201);
    expect(withCategory.json.memory.category).toBe('facts');
  });

  it('refuses bad bodies with 400', async () => {
    const user = await newUser('mem-400');
    const agentId = await newAgent(user);
    expectError(await call('POST', `/agents/${agentId}/memories`, { token: user.token }), 400, 'Missing JSON in request');
    expectError(await create(user, agentId, {}), 400, 'Missing content parameter');
    expectError(await create(user, agentId, { content: '   ' }), 400, 'Missing content parameter');
    expectError(await create(user, agentId, { content: 5 }), 400, 'content must be a string');
    expectError(await create(user, agentId, { content: 'x'.repeat(4001) }), 400, 'content must be at most 4000 characters');
    expect((await create(user, agentId, { content: 'x'.repeat(4000) })).status).toBe(201);
    expectError(await create(user, agentId, { content: 'a', category: '' }), 400, 'category must be a non-empty string of at most 64 characters');
    expectError(await create(user, agentId, { content: 'a', category: 'c'.repeat(65) }), 400);
    const unknown = await create(user, agentId, { content: 'a', importance: 3 });
    expectError(unknown, 400, 'Unknown field: importance');
    expect(unknown.json.code).toBe('unknown_field');
    // Fields only the server sets, sent back from a read, are dropped rather than refused.
    expect((await create(user, agentId, { content: 'a', memory_id: 'x', created_at: 'y' })).status).toBe(201);
  });

  it('is 401 without a token and 404 for another user\'s, a deleted or an unknown agent', async () => {
    const owner = await newUser('mem-owner');
    const other = await newUser('mem-other');
    const agentId = await newAgent(owner);
    expectError(await call('POST', `/agents/${agentId}/memories`, { body: { content: 'a' } }), 401, 'Missing Authorization Header');
    expectError(await create(other, agentId, { content: 'a' }), 404, 'Agent not found');
    expectError(await create(owner, 'nope', { content: 'a' }), 404, 'Agent not found');
    expect((await call('DELETE', `/agents/${agentId}`, { token: owner.token })).status).toBe(200);
    expectError(await create(owner, agentId, { content: 'a' }), 404, 'Agent not found');
  });
});

describe('GET /agents/{agent_id}/memories', () => {
  it('lists newest first, pages with limit and cursor, filters by category', async () => {
    const user = await newUser('mem-list');
    const agentId = await newAgent(user);
    const ids = await seed(user.userId, agentId, [
      { content: 'one', category: 'a' },
      { content: 'two', category: 'b' },
      { content: 'three', category: 'a' },
      { content: 'four', category: 'b' },
      { content: 'five', category: 'a' },
    ]);
    const all = await list(user, agentId);
    expect(all.status, all.text).toBe(200);
    expect(all.json.memories.map((m: any) => m.content)).toEqual(['five', 'four', 'three', 'two', 'one']);
    expect(all.json.next_cursor).toBeNull();
    expect(all.json.memories[0]).toEqual({
      memory_id: ids[4],
      agent_id: agentId,
      content: 'five',
      category: 'a',
      created_at: new Date(Date.UTC(2027, 0, 1) + 4000).toISOString(),
      updated_at: new Date(Date.UTC(2027, 0, 1) + 4000).toISOString(),
    });

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const res = await list(user, agentId, `?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.json.memories.length).toBeLessThanOrEqual(2);
      seen.push(...res.json.memories.map((m: any) => m.content));
      cursor = res.json.next_cursor;
    } while (cursor);
    expect(seen).toEqual(['five', 'four', 'three', 'two', 'one']);

    const a = await list(user, agentId, '?category=a');
    expect(a.json.memories.map((m: any) => m.content)).toEqual(['five', 'three', 'one']);
    const a1 = await list(user, agentId, '?category=a&limit=1');
    expect(a1.json.memories.map((m: any) => m.content)).toEqual(['five']);
    const a2 = await list(user, agentId, `?category=a&limit=2&cursor=${a1.json.next_cursor}`);
    expect(a2.json.memories.map((m: any) => m.content)).toEqual(['three', 'one']);
    expect(a2.json.next_cursor).toBeNull();
    expect((await list(user, agentId, '?category=zzz')).json).toEqual({ memories: [], next_cursor: null });
  });

  it('keeps each agent\'s memories to itself, and each user\'s', async () => {
    const user = await newUser('mem-scope');
    const first = await newAgent(user, 'first');
    const second = await newAgent(user, 'second');
    await create(user, first, { content: 'for the first' });
    await create(user, second, { content: 'for the second' });
    expect((await list(user, first)).json.memories.map((m: any) => m.content)).toEqual(['for the first']);
    expect((await list(user, second)).json.memories.map((m: any) => m.content)).toEqual(['for the second']);
  });

  it('refuses bad queries with 400, no token with 401, another user\'s agent with 404', async () => {
    const user = await newUser('mem-list-errors');
    const other = await newUser('mem-list-other');
    const agentId = await newAgent(user);
    expectError(await list(user, agentId, '?limit=0'), 400, 'limit must be an integer between 1 and 100');
    expectError(await list(user, agentId, '?limit=101'), 400, 'limit must be an integer between 1 and 100');
    expectError(await list(user, agentId, '?cursor=@@@'), 400, 'Invalid cursor');
    expectError(await list(user, agentId, '?category='), 400, 'category must be a non-empty string of at most 64 characters');
    expectError(await call('GET', `/agents/${agentId}/memories`), 401, 'Missing Authorization Header');
    expectError(await list(other, agentId), 404, 'Agent not found');
  });
});

describe('PUT /agents/memories/{memory_id}', () => {
  it('changes content and/or category, moves updated_at, keeps created_at', async () => {
    const user = await newUser('mem-put');
    const agentId = await newAgent(user);
    const [id] = await seed(user.userId, agentId, [{ content: 'old', category: 'x' }]);
    const put = (body: unknown) => call('PUT', `/agents/memories/${id}`, { token: user.token, body });
    const res = await put({ content: 'new' });
    expect(res.status, res.text).toBe(200);
    expect(res.json.memory).toMatchObject({ memory_id: id, agent_id: agentId, content: 'new', category: 'x', created_at: new Date(Date.UTC(2027, 0, 1)).toISOString() });
    expect(res.json.memory.updated_at).not.toBe(res.json.memory.created_at);
    expect((await put({ category: 'y' })).json.memory).toMatchObject({ content: 'new', category: 'y' });
    expect((await put({ content: 'both', category: 'z' })).json.memory).toMatchObject({ content: 'both', category: 'z' });
    // What a client read can be sent back: server-set fields are dropped.
    const back = (await list(user, agentId)).json.memories[0];
    expect((await put({ ...back, content: 'sent back' })).json.memory).toMatchObject({ content: 'sent back', category: 'z' });
  });

  it('refuses bad bodies with 400, no token with 401, another user\'s or an unknown memory with 404', async () => {
    const user = await newUser('mem-put-errors');
    const other = await newUser('mem-put-other');
    const agentId = await newAgent(user);
    const [id] = await seed(user.userId, agentId, [{ content: 'mine' }]);
    const put = (u: TestUser | null, body: unknown, memoryId = id) => call('PUT', `/agents/memories/${memoryId}`, { token: u?.token, body });
    // {} changes nothing but updated_at, as the PATCH routes take it.
    expect((await put(user, {})).json.memory).toMatchObject({ memory_id: id, content: 'mine', category: 'general' });
    expectError(await put(user, { content: '' }), 400, 'Missing content parameter');
    expectError(await put(user, { content: 'x'.repeat(4001) }), 400, 'content must be at most 4000 characters');
    expectError(await put(user, { category: '' }), 400, 'category must be a non-empty string of at most 64 characters');
    expectError(await put(user, { content: 'a', weight: 1 }), 400, 'Unknown field: weight');
    expectError(await call('PUT', `/agents/memories/${id}`, { token: user.token }), 400, 'Missing JSON in request');
    expectError(await put(null, { content: 'a' }), 401, 'Missing Authorization Header');
    expectError(await put(other, { content: 'stolen' }), 404, 'Memory not found');
    expect((await put(other, { content: 'stolen' })).json.code).toBe('memory_not_found');
    expectError(await put(user, { content: 'a' }, 'nope'), 404, 'Memory not found');
    expect((await list(user, agentId)).json.memories[0].content).toBe('mine');
  });
});

describe('DELETE /agents/memories/{memory_id}', () => {
  it('deletes: 200 {"msg": "Memory deleted"}, then 404', async () => {
    const user = await newUser('mem-del');
    const other = await newUser('mem-del-other');
    const agentId = await newAgent(user);
    const [id] = await seed(user.userId, agentId, [{ content: 'bye' }]);
    expectError(await call('DELETE', `/agents/memories/${id}`), 401, 'Missing Authorization Header');
    expectError(await call('DELETE', `/agents/memories/${id}`, { token: other.token }), 404, 'Memory not found');
    const res = await call('DELETE', `/agents/memories/${id}`, { token: user.token });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ msg: 'Memory deleted' });
    expectError(await call('DELETE', `/agents/memories/${id}`, { token: user.token }), 404, 'Memory not found');
    expect((await list(user, agentId)).json.memories).toEqual([]);
  });

  it('treats a deleted agent\'s memories as gone', async () => {
    const user = await newUser('mem-del-agent');
    const agentId = await newAgent(user);
    const [id] = await seed(user.userId, agentId, [{ content: 'orphan' }]);
    expect((await call('DELETE', `/agents/${agentId}`, { token: user.token })).status).toBe(200);
    expectError(await call('PUT', `/agents/memories/${id}`, { token: user.token, body: { content: 'x' } }), 404, 'Memory not found');
    expectError(await call('DELETE', `/agents/memories/${id}`, { token: user.token }), 404, 'Memory not found');
    expectError(await list(user, agentId), 404, 'Agent not found');
  });
});

describe('GET /agents/{agent_id}/memory-stats', () => {
  it('counts per category, sums UTF-8 bytes, names the oldest and newest', async () => {
    const user = await newUser('mem-stats');
    const other = await newUser('mem-stats-other');
    const agentId = await newAgent(user);
    const otherAgent = await newAgent(user, 'other agent');
    const stats = () => call('GET', `/agents/${agentId}/memory-stats`, { token: user.token });
    expect((await stats()).json).toEqual({ stats: { total: 0, by_category: {}, bytes: 0, oldest: null, newest: null } });
    await seed(user.userId, agentId, [{ content: 'abc', category: 'a' }, { content: 'é€', category: 'b' }, { content: 'xy', category: 'a' }]);
    await seed(user.userId, otherAgent, [{ content: 'not counted' }]);
    const res = await stats();
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({
      stats: {
        total: 3,
        by_category: { a: 2, b: 1 },
        bytes: 3 + 5 + 2,
        oldest: new Date(Date.UTC(2027, 0, 1)).toISOString(),
        newest: new Date(Date.UTC(2027, 0, 1) + 2000).toISOString(),
      },
    });
    expectError(await call('GET', `/agents/${agentId}/memory-stats`), 401, 'Missing Authorization Header');
    expectError(await call('GET', `/agents/${agentId}/memory-stats`, { token: other.token }), 404, 'Agent not found');
    expectError(await call('GET', '/agents/nope/memory-stats', { token: user.token }), 404, 'Agent not found');
  });
});

describe('rememberMemory and recallMemories (the remember and recall tools)', () => {
  it('remember stores what the route stores, validated by the same schema', async () => {
    const user = await newUser('mem-tool-remember');
    const agentId = await newAgent(user);
    const m = await rememberMemory(db(), user.userId, agentId, { content: ' likes tea ' });
    expect(m).toEqual({ memory_id: expect.any(String), agent_id: agentId, content: 'likes tea', category: 'general', created_at: expect.stringMatching(ISO), updated_at: m.created_at });
    expect((await list(user, agentId)).json.memories).toEqual([m]);
    await expectApiError(rememberMemory(db(), user.userId, agentId, { content: '' }), 400, 'validation_error');
    await expectApiError(rememberMemory(db(), user.userId, agentId, { content: 'x'.repeat(4001) }), 400, 'validation_error');
    await expectApiError(rememberMemory(db(), user.userId, agentId, { content: 'a', category: '' }), 400, 'validation_error');
    await expectApiError(rememberMemory(db(), user.userId, agentId, null as never), 400, 'validation_error');
  });

  it('never writes to or reads from another user\'s agent', async () => {
    const owner = await newUser('mem-tool-owner');
    const intruder = await newUser('mem-tool-intruder');
    const agentId = await newAgent(owner);
    await rememberMemory(db(), owner.userId, agentId, { content: 'secret' });
    await expectApiError(rememberMemory(db(), intruder.userId, agentId, { content: 'planted' }), 404, 'agent_not_found');
    await expectApiError(recallMemories(db(), intruder.userId, agentId, {}), 404, 'agent_not_found');
    expect((await list(owner, agentId)).json.memories.map((m: any) => m.content)).toEqual(['secret']);
  });

  it('recall: newest first, a case-insensitive substring (% and _ literal), a category, a limit', async () => {
    const user = await newUser('mem-tool-recall');
    const agentId = await newAgent(user);
    const otherAgent = await newAgent(user, 'other');
    await seed(user.userId, agentId, [
      { content: 'Likes Coffee', category: 'taste' },
      { content: 'coffee at 8am', category: 'routine' },
      { content: '100% remote', category: 'work' },
      { content: 'snake_case fan', category: 'work' },
      { content: 'drinks COFFEE black', category: 'taste' },
    ]);
    await seed(user.userId, otherAgent, [{ content: 'coffee for the other agent' }]);
    const recall = async (input: object) => (await recallMemories(db(), user.userId, agentId, input)).map((m) => m.content);
    expect(await recall({})).toEqual(['drinks COFFEE black', 'snake_case fan', '100% remote', 'coffee at 8am', 'Likes Coffee']);
    expect(await recall({ query: 'coffee' })).toEqual(['drinks COFFEE black', 'coffee at 8am', 'Likes Coffee']);
    expect(await recall({ query: 'coffee', category: 'taste' })).toEqual(['drinks COFFEE black', 'Likes Coffee']);
    expect(await recall({ query: 'coffee', limit: 1 })).toEqual(['drinks COFFEE black']);
    expect(await recall({ query: '%' })).toEqual(['100% remote']);
    expect(await recall({ query: '_' })).toEqual(['snake_case fan']);
    expect(await recall({ query: 'e_c' })).toEqual(['snake_case fan']);
    expect(await recall({ query: 'nothing like it' })).toEqual([]);
    expect(await recall({ category: 'work' })).toEqual(['snake_case fan', '100% remote']);
    await expectApiError(recallMemories(db(), user.userId, agentId, { limit: 51 }), 400, 'validation_error');
    await expectApiError(recallMemories(db(), user.userId, agentId, { limit: 0 }), 400, 'validation_error');
    await expectApiError(recallMemories(db(), user.userId, agentId, { query: 'q'.repeat(201) }), 400, 'validation_error');
  });

  it('recall defaults to the newest 10 and takes at most 50', async () => {
    const user = await newUser('mem-tool-limit');
    const agentId = await newAgent(user);
    await seed(user.userId, agentId, Array.from({ length: 55 }, (_, i) => ({ content: `m${i}` })));
    const ten = await recallMemories(db(), user.userId, agentId);
    expect(ten.map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `m${54 - i}`));
    expect((await recallMemories(db(), user.userId, agentId, { limit: 50 })).length).toBe(50);
  });
});

describe('memoriesForPrompt', () => {
  const utf8 = (s: string) => new TextEncoder().encode(s).length;

  it('is empty with no memories or a zero budget', async () => {
    const user = await newUser('mem-prompt-empty');
    const agentId = await newAgent(user);
    expect(await memoriesForPrompt(db(), user.userId, agentId, 4096)).toBe('');
    await seed(user.userId, agentId, [{ content: 'something' }]);
    expect(await memoriesForPrompt(db(), user.userId, agentId, 0)).toBe('');
    expect(await memoriesForPrompt(db(), user.userId, agentId, 4096)).toBe(`${PROMPT_HEADER}\n- [general] something`);
  });

  it('puts the newest first, folds newlines, and never includes another agent\'s or user\'s memories', async () => {
    const user = await newUser('mem-prompt-order');
    const other = await newUser('mem-prompt-other');
    const agentId = await newAgent(user);
    const otherAgent = await newAgent(user, 'other');
    await seed(user.userId, agentId, [{ content: 'oldest' }, { content: 'middle\nline two', category: 'notes' }, { content: 'newest' }]);
    await seed(user.userId, otherAgent, [{ content: 'OTHER AGENT' }]);
    await seed(other.userId, agentId, [{ content: 'OTHER USER' }]);
    const block = await memoriesForPrompt(db(), user.userId, agentId, 4096);
    expect(block).toBe(`${PROMPT_HEADER}\n- [general] newest\n- [notes] middle line two\n- [general] oldest`);
    expect(block).not.toContain('OTHER');
  });

  it('keeps within the byte budget, newest first, cutting the first that does not fit', async () => {
    const user = await newUser('mem-prompt-budget');
    const agentId = await newAgent(user);
    // 40 memories of multi-byte text: more than several budgets hold, across the function's batches.
    await seed(user.userId, agentId, Array.from({ length: 40 }, (_, i) => ({ content: `m${String(i).padStart(2, '0')} ${'é€'.repeat(10)}` })));
    for (const budget of [utf8(PROMPT_HEADER), utf8(PROMPT_HEADER) + 10, 200, 333, 1000, 4096]) {
      const block = await memoriesForPrompt(db(), user.userId, agentId, budget);
      expect(utf8(block), `budget ${budget}`).toBeLessThanOrEqual(budget);
      if (!block) continue;
      const lines = block.split('\n').slice(1);
      const numbers = lines.map((l) => Number(/^- \[general\] m(\d\d)/.exec(l)?.[1] ?? NaN)).filter((n) => !Number.isNaN(n));
      expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 39 - i));
      // Only the last line may be cut, and then it says so.
      for (const l of lines.slice(0, -1)) expect(l).toBe(`- [general] m${l.slice(13, 15)} ${'é€'.repeat(10)}`);
    }
    expect(await memoriesForPrompt(db(), user.userId, agentId, utf8(PROMPT_HEADER))).toBe('');
    const all = await memoriesForPrompt(db(), user.userId, agentId, 256 * 1024);
    expect(all.split('\n').length).toBe(41);
    const cut = await memoriesForPrompt(db(), user.userId, agentId, 300);
    expect(cut.endsWith('…')).toBe(true);
    expect(utf8(cut)).toBeGreaterThan(300 - 4);
  });

  it("a run's admission statement reads the first batch: the block from it is the block read alone, past the batch too", async () => {
    const { loadRunAgent } = await import('../src/durable/run-agent');
    const user = await newUser('mem-prompt-admission');
    const agentId = await newAgent(user);
    const ws = await call('POST', '/workspace', { token: user.token, body: { name: 'mem' } });
    const workspaceId = ws.json.workspace.workspace_id;
    expect((await call('POST', `/workspace/${workspaceId}/agent`, { token: user.token, body: { agent_id: agentId } })).status).toBe(200);
    const chatId = (await call('POST', `/chat?workspace_id=${workspaceId}`, { token: user.token })).json.chat.chat_id;
    const other = await newUser('mem-prompt-admission-other');
    await seed(other.userId, agentId, [{ content: 'OTHER USER' }]);
    await seed(user.userId, agentId, Array.from({ length: 40 }, (_, i) => ({ content: `m${String(i).padStart(2, '0')}`, category: i % 2 ? 'odd' : 'even' })));
    const loaded = await loadRunAgent(db(), chatId, agentId);
    if (!loaded.agent) throw new Error(loaded.failure.msg);
    // The newest 32 of the user's (never the other user's), newest first.
    expect(loaded.memories.map((m) => m.content)).toEqual(Array.from({ length: 32 }, (_, i) => `m${String(39 - i).padStart(2, '0')}`));
    for (const budget of [200, 256 * 1024]) {
      expect(await memoriesForPrompt(db(), user.userId, agentId, budget, loaded.memories)).toBe(await memoriesForPrompt(db(), user.userId, agentId, budget));
    }
    expect((await memoriesForPrompt(db(), user.userId, agentId, 256 * 1024, loaded.memories)).split('\n').length).toBe(41);
  });
});
