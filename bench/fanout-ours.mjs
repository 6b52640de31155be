// Fan-out clients for our chat WebSocket (ws library): a connection string per socket from
// GET /chat/authorize, `batch=1` to opt into `messages` frames, senders paced by their acks.
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { call } from './lib/api.mjs';

/** Opens one socket; resolves after the server's `ready` frame. */
async function open(url, token, chatId, batch, onFrame) {
  const { connection_string } = await call(url, 'GET', `/chat/authorize?chat_id=${chatId}`, { token });
  const ws = new WebSocket(
    `${url.replace('http', 'ws')}/chat/ws?chat_id=${chatId}&connection_string=${encodeURIComponent(connection_string)}${batch ? '&batch=1' : ''}`,
    { perMessageDeflate: false },
  );
  await new Promise((resolve, reject) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') resolve();
      else onFrame(frame);
    });
    ws.once('error', reject);
    ws.once('close', (code, reason) => reject(new Error(`socket closed before ready: ${code} ${reason}`)));
  });
  const closed = new Promise((resolve) => ws.once('close', resolve));
  return {
    ws,
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      ws.terminate();
    },
  };
}

/** An adapter for runFanout; `frames` counts what the receivers got, by type (says which mode ran). */
export function oursAdapter({ url, token, chatId, batch }) {
  const frames = { message: 0, messages: 0 };
  const deliver = (onContent) => (frame) => {
    if (frame.type === 'message') {
      frames.message++;
      onContent(frame.message.content);
    } else if (frame.type === 'messages') {
      frames.messages++;
      for (const m of frame.messages) onContent(m.content);
    }
  };
  return {
    frames,
    connectReceiver: (onContent) => open(url, token, chatId, batch, deliver(onContent)),
    async connectSender(onContent) {
      const waiting = new Map();
      const receive = deliver(onContent);
      const client = await open(url, token, chatId, batch, (frame) => {
        if (frame.type === 'ack' || frame.type === 'error') {
          const w = waiting.get(frame.client_id);
          waiting.delete(frame.client_id);
          if (frame.type === 'ack') w?.resolve(frame);
          else w?.reject(new Error(`error frame: ${frame.code} ${frame.msg}`));
        } else receive(frame);
      });
      let messageString = (await call(url, 'GET', `/chat/authorize/message?chat_id=${chatId}`, { token })).message_string;
      return {
        close: client.close,
        async send(content) {
          const clientId = randomUUID();
          const ack = new Promise((resolve, reject) => waiting.set(clientId, { resolve, reject }));
          client.ws.send(JSON.stringify({ type: 'message', message_string: messageString, content, client_id: clientId }));
          messageString = (await ack).next_message_string.message_string;
        },
      };
    },
  };
}
