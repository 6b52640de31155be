import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { runDueProcesses } from '../src/processes/cron';
import { chatOwner, connect } from './chat-helpers';
import { captureErrorLog } from './error-log';
import { call } from './helpers';

describe('post_message action', () => {
  it('posts into the chat through its Durable Object: a live socket sees it, from execute and from the cron job', async () => {
    const { user, chatId } = await chatOwner();
    const { client } = await connect(user, chatId);
    try {
      const res = await call('POST', '/processes', {
        token: user.token,
        body: { name: 'Stand-up', trigger_type: 'time_based', schedule: '0 0 1 1 *', action: { type: 'post_message', chat_id: chatId, content: 'Stand-up in 5 minutes' } },
      });
      expect(res.status).toBe(201);
      const id = res.json.process.process_id;

      const run = await call('POST', `/processes/${id}/execute`, { token: user.token });
      expect(run.json.execution.status).toBe('success');
      const frame = await client.take('message');
      expect(frame).toMatchObject({
        type: 'message',
        message: { chat_id: chatId, role: 'system', sender_id: id, content: 'Stand-up in 5 minutes' },
      });
      expect(run.json.execution.message).toBe(`Posted message ${frame.message.message_id} to chat ${chatId}`);

      await env.DB.prepare('UPDATE processes SET next_run_at = ? WHERE id = ?').bind(Date.now() - 1000, id).run();
      expect((await runDueProcesses(env)).succeeded).toBe(1);
      const second = await client.take('message');
      expect(second.message).toMatchObject({ role: 'system', content: 'Stand-up in 5 minutes' });
      expect(second.message.seq).toBe(frame.message.seq + 1);

      // The history has both, stored in the chat like any other message.
      const history = await call('GET', `/chat/messages?chat_id=${chatId}`, { token: user.token });
      expect(history.status).toBe(200);
      expect(history.json.messages.map((m: { content: string }) => m.content)).toEqual(['Stand-up in 5 minutes', 'Stand-up in 5 minutes']);
    } finally {
      client.close();
    }
  });

  it('a deleted chat makes the run fail with its error', async () => {
    const { user, chatId } = await chatOwner();
    const res = await call('POST', '/processes', {
      token: user.token,
      body: { name: 'x', trigger_type: 'manual', action: { type: 'post_message', chat_id: chatId, content: 'hello' } },
    });
    const del = await call('DELETE', `/chat?chat_id=${chatId}`, { token: user.token });
    expect(del.status).toBe(200);
    const log = captureErrorLog();
    const run = await call('POST', `/processes/${res.json.process.process_id}/execute`, { token: user.token });
    expect(run.json.execution).toMatchObject({ status: 'failed', message: 'Chat not found' });
    expect(log.entries()).toEqual([
      { msg: 'process action failed', process_id: res.json.process.process_id, execution_id: run.json.execution.execution_id, error: 'Chat not found' },
    ]);
  });
});
