import { describe, expect, it } from 'vitest';
import type { ChatMessage } from '../src/durable/protocol';
import { call, withVars } from './helpers';
import { ChatClient, chatOwner, connect, messageString } from './chat-helpers';

const N = 200;
const noLimit = { MESSAGE_RATE_LIMIT: '100000', RATE_LIMIT_PER_MINUTE: '1000000' };

/** Reads frames until `count` messages (single or batched) have arrived. */
async function collect(client: ChatClient, count: number) {
  const messages: ChatMessage[] = [];
  let frames = 0;
  while (messages.length < count) {
    const f = await client.next();
    if (f.type === 'message') messages.push(f.message);
    else if (f.type === 'messages') messages.push(...f.messages);
    else continue;
    frames++;
  }
  return { messages, frames };
}

describe('throughput in one chat (logged; the README quotes it)', () => {
  it(`chains ${N} messages through acks with 3 listeners, gap-free`, { timeout: 60_000 }, async () => {
    const { user, chatId } = await chatOwner();
    await withVars(noLimit, async () => {
      const sender = await connect(user, chatId);
      const listeners = await Promise.all([1, 2, 3].map(() => connect(user, chatId)));
      let ms = await messageString(user, chatId);
      const started = performance.now();
      for (let i = 0; i < N; i++) ms = (await sender.client.accepted(ms, `m${i}`)).ack.next_message_string.message_string;
      const elapsed = performance.now() - started;
      for (const l of listeners) {
        const { messages } = await collect(l.client, N);
        expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
        l.client.close();
      }
      console.log(`chat throughput, ack-chained: ${N} messages in ${elapsed.toFixed(0)} ms = ${((N * 1000) / elapsed).toFixed(0)} msg/s`);
      sender.client.close();
    });
  });

  it(`pipelines ${N} frames with pre-issued strings; a batch=1 listener gets coalesced frames`, { timeout: 60_000 }, async () => {
    const { user, chatId } = await chatOwner();
    // A window far longer than the burst, so coalescing shows however slow the machine is: a
    // frame per 100 messages (src/durable/chat-fanout.ts BATCH_MAX) plus one per second at most.
    await withVars({ ...noLimit, CHAT_BATCH_WINDOW_MS: '1000' }, async () => {
      const sender = await connect(user, chatId);
      const batch = await connect(user, chatId, '&batch=1');
      const strings = await Promise.all(Array.from({ length: N }, () => messageString(user, chatId)));
      const started = performance.now();
      strings.forEach((s, i) => sender.client.send({ type: 'message', message_string: s, content: `p${i}`, client_id: `p${i}` }));
      let acks = 0;
      while (acks < N) if ((await sender.client.next()).type === 'ack') acks++;
      const elapsed = performance.now() - started;
      const { messages, frames } = await collect(batch.client, N);
      expect(messages.map((m) => m.seq)).toEqual(Array.from({ length: N }, (_, i) => i + 1));
      // Every message, in order, in far fewer frames than messages.
      expect(frames).toBeLessThanOrEqual(N / 10);
      console.log(
        `chat throughput, pipelined: ${N} messages in ${elapsed.toFixed(0)} ms = ${((N * 1000) / elapsed).toFixed(0)} msg/s; batch listener got ${frames} frames`,
      );
      const history = await call('GET', `/chat/messages?chat_id=${chatId}&limit=100&after_seq=${N - 1}`, { token: user.token });
      expect(history.json.last_seq).toBe(N);
      sender.client.close();
      batch.client.close();
    });
  });
});

describe('batch=1', () => {
  it('replays as one messages frame and delivers live messages as messages frames', async () => {
    const { user, chatId } = await chatOwner();
    const a = await connect(user, chatId);
    let ms = await messageString(user, chatId);
    for (const c of ['a', 'b']) ms = (await a.client.accepted(ms, c)).ack.next_message_string.message_string;
    const b = await connect(user, chatId, '&batch=1&after_seq=0');
    const replay = await b.client.take('messages');
    expect(replay.messages.map((m) => m.content)).toEqual(['a', 'b']);
    await a.client.message(ms, 'c');
    expect(await b.client.next()).toMatchObject({ type: 'messages', messages: [{ seq: 3, content: 'c' }] });
    a.client.close();
    b.client.close();
  });
});
