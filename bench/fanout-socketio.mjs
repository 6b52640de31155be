// Fan-out clients for the socket.io comparison server (socket.io-client over WebSocket only).
// socket.io-client offers permessage-deflate by default, as a browser does; the server answers
// it only when started with compression (see socketio-server.mjs).
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { freePort, sleep, start, stop } from '../scripts/lib/proc.mjs';

/**
 * Starts bench/socketio-server.mjs in its own process, with permessage-deflate for every frame
 * if `compress`; resolves to { url, pid, stop }.
 */
export async function startSocketIo({ compress = false } = {}) {
  const port = await freePort();
  const child = start(process.execPath, [join(import.meta.dirname, 'socketio-server.mjs'), String(port), compress ? 'compress' : 'plain']);
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
      await res.arrayBuffer();
      break;
    } catch {
      await sleep(50);
    }
  }
  return { url, pid: child.pid, stop: () => stop(child) };
}

function open(url, onContent) {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { room: 'bench' } });
  socket.on('message', (m) => onContent(m.content));
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

const closer = (socket) => async () => void socket.disconnect();

export function socketIoAdapter({ url }) {
  return {
    async connectReceiver(onContent) {
      return { close: closer(await open(url, onContent)) };
    },
    async connectSender(onContent) {
      const socket = await open(url, onContent);
      return {
        close: closer(socket),
        send: (content) => socket.emitWithAck('message', { content, client_id: randomUUID() }),
      };
    },
  };
}
