import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, type TestUser } from './helpers';
import { publish, uniqueName } from './packages-fixtures';

async function setup() {
  const u = await newUser();
  const name = uniqueName('ws-agent');
  await publish(u.token, name, '1.0.0');
  expect((await call('GET', `/agent/download?query=${name}`, { token: u.token })).status).toBe(200);
  const agentId: string = (await call('GET', '/agents', { token: u.token })).json.agents[0].agent_id;
  const ws = (await call('POST', '/workspace', { token: u.token })).json.workspace;
  return { u, agentId, wsId: ws.workspace_id as string };
}

const agentsOf = async (u: TestUser, wsId: string) =>
  (await call('GET', `/workspace/${wsId}`, { token: u.token })).json.workspace.agents as string[];

describe('POST /workspace/:workspace_id/agent (upstream contract)', () => {
  it('adds an installed agent; adding twice is harmless', async () => {
    const { u, agentId, wsId } = await setup();
    for (let i = 0; i < 2; i++) {
      const res = await call('POST', `/workspace/${wsId}/agent`, { token: u.token, body: { agent_id: agentId } });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ msg: 'Agent added to Workspace.' });
    }
    expect(await agentsOf(u, wsId)).toEqual([agentId]);
    const list = await call('GET', '/workspace', { token: u.token });
    expect(list.json.workspaces.find((w: any) => w.workspace_id === wsId).agents).toEqual([agentId]);
  });
});

describe('DELETE /workspace/:workspace_id/agent (upstream contract)', () => {
  it('removes it; removing one that is not there is harmless', async () => {
    const { u, agentId, wsId } = await setup();
    await call('POST', `/workspace/${wsId}/agent`, { token: u.token, body: { agent_id: agentId } });
    for (let i = 0; i < 2; i++) {
      const res = await call('DELETE', `/workspace/${wsId}/agent`, { token: u.token, body: { agent_id: agentId } });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ msg: 'Agent removed' });
    }
    expect(await agentsOf(u, wsId)).toEqual([]);
    // Only the workspace link went: the agent is still installed.
    expect((await call('GET', `/agents/${agentId}`, { token: u.token })).status).toBe(200);
  });

  it("clears it as the default agent of that workspace's chats, in the same batch, and of no other chat", async () => {
    const { u, agentId, wsId } = await setup();
    const other = (await call('POST', '/workspace', { token: u.token })).json.workspace.workspace_id;
    for (const ws of [wsId, other]) await call('POST', `/workspace/${ws}/agent`, { token: u.token, body: { agent_id: agentId } });
    const chatIn = async (ws: string) => (await call('POST', `/chat?workspace_id=${ws}&agent_id=${agentId}`, { token: u.token })).json.chat.chat_id as string;
    const [here, alsoHere, elsewhere] = [await chatIn(wsId), await chatIn(wsId), await chatIn(other)];
    expect((await call('DELETE', `/workspace/${wsId}/agent`, { token: u.token, body: { agent_id: agentId } })).status).toBe(200);
    const agentOf = async (chatId: string) => (await call('GET', `/chat?chat_id=${chatId}`, { token: u.token })).json.agent_id;
    expect([await agentOf(here), await agentOf(alsoHere), await agentOf(elsewhere)]).toEqual([null, null, agentId]);
    const listed = (await call('GET', `/workspace/${wsId}/chats`, { token: u.token })).json.chats;
    expect(listed.map((c: any) => c.agent_id)).toEqual([null, null]);
  });
});

for (const method of ['POST', 'DELETE']) {
  describe(`${method} /workspace/:workspace_id/agent errors`, () => {
    it('400 Missing JSON in request: no body, wrong content type, broken JSON, not an object', async () => {
      const { u, wsId } = await setup();
      const path = `/workspace/${wsId}/agent`;
      expectError(await call(method, path, { token: u.token }), 400, 'Missing JSON in request');
      expectError(await call(method, path, { token: u.token, body: '{"agent_id":"x"}', headers: { 'content-type': 'text/plain' } }), 400, 'Missing JSON in request');
      expectError(await call(method, path, { token: u.token, body: '{"agent_id":' }), 400, 'Missing JSON in request');
      expectError(await call(method, path, { token: u.token, body: '["x"]' }), 400, 'Missing JSON in request');
    });

    it('400 Missing agent_id parameter: absent, empty or not a string', async () => {
      const { u, wsId } = await setup();
      for (const body of [{}, { agent_id: '' }, { agent_id: '   ' }, { agent_id: 7 }, { agent_id: null }, { agentId: 'x' }]) {
        expectError(await call(method, `/workspace/${wsId}/agent`, { token: u.token, body }), 400, 'Missing agent_id parameter');
      }
    });

    it('404 Workspace not found for an unknown or malformed workspace id', async () => {
      const { u, agentId } = await setup();
      for (const id of ['0190c5a0-0000-7000-8000-000000000000', 'nope']) {
        expectError(await call(method, `/workspace/${id}/agent`, { token: u.token, body: { agent_id: agentId } }), 404, 'Workspace not found');
      }
    });

    it("403 User is not the owner of the workspace for another user's workspace, and nothing changes", async () => {
      const owner = await setup();
      const other = await setup();
      await call('POST', `/workspace/${owner.wsId}/agent`, { token: owner.u.token, body: { agent_id: owner.agentId } });
      for (const agentId of [other.agentId, owner.agentId]) {
        const res = await call(method, `/workspace/${owner.wsId}/agent`, { token: other.u.token, body: { agent_id: agentId } });
        expectError(res, 403, 'User is not the owner of the workspace');
      }
      expect(await agentsOf(owner.u, owner.wsId)).toEqual([owner.agentId]);
    });

    it("404 Agent not found for another user's agent, an unknown id or a malformed one", async () => {
      const mine = await setup();
      const theirs = await setup();
      for (const agentId of [theirs.agentId, '0190c5a0-0000-7000-8000-000000000000', 'nope']) {
        const res = await call(method, `/workspace/${mine.wsId}/agent`, { token: mine.u.token, body: { agent_id: agentId } });
        expectError(res, 404, 'Agent not found');
      }
      expect(await agentsOf(mine.u, mine.wsId)).toEqual([]);
    });

    it('401 without a token and with a bad one', async () => {
      const { u, agentId, wsId } = await setup();
      expectError(await call(method, `/workspace/${wsId}/agent`, { body: { agent_id: agentId } }), 401, 'Missing Authorization Header');
      expectError(await call(method, `/workspace/${wsId}/agent`, { token: 'bad', body: { agent_id: agentId } }), 401, 'Invalid token');
      expect(await agentsOf(u, wsId)).toEqual([]);
    });
  });
}
