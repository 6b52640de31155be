// Fan-out clients for our chat WebSocket (ws library): a connection string per socket from
// GET /chat/authorize, `batch=1` to opt into `messages` frames, senders paced by their acks.
// `deflate`: offer permessage-deflate as browsers do (ws's default offer, `permessage-deflate;
// client_max_window_bits`), or not (the bench's clients before, and most non-browser clients).
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { call } from './lib/api.mjs';

/** Opens one socket; resolves after the server's `ready` frame (which `onFrame` does not see). */
export async function open(url, token, chatId, batch, deflate, onFrame) {
  const { connection_string } = await call(url, 'GET', `/chat/authorize?chat_id=${chatId}`, { token });
  const ws = new WebSocket(
    `${url.replace('http', 'ws')}/chat/ws?chat_id=${chatId}&connection_string=${encodeURIComponent(connection_string)}${batch ? '&batch=1' : ''}`,
    { perMessageDeflate: deflate },
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
    // What the server answered in Sec-WebSocket-Extensions ('' = none).
    extensions: ws.extensions,
    close: async () => {
      if (ws.readyState === WebSocket.CLOSED) return;
      ws.close(1000);
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
      ws.terminate();
    },
  };
}

/**
 * An adapter for runFanout; `frames` counts what the receivers got, by type (says which mode ran);
 * `extensions` collects the extensions the server answered.
 */
export function oursAdapter({ url, token, chatId, batch, deflate = false }) {
  const frames = { message: 0, messages: 0 };
  const extensions = new Set();
  const opened = async (client) => {
    extensions.add((await client).extensions || 'none');
    return client;
  };
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
    extensions,
    connectReceiver: (onContent) => opened(open(url, token, chatId, batch, deflate, deliver(onContent))),
    async connectSender(onContent) {
      const waiting = new Map();
      const receive = deliver(onContent);
      const client = await opened(open(url, token, chatId, batch, deflate, (frame) => {
        if (frame.type === 'ack' || frame.type === 'error') {
          const w = waiting.get(frame.client_id);
          waiting.delete(frame.client_id);
          if (frame.type === 'ack') w?.resolve(frame);
          else w?.reject(new Error(`error frame: ${frame.code} ${frame.msg}`));
        } else receive(frame);
      }));
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
