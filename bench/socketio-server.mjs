// The comparison server: socket.io 4.8, one room, each message broadcast to the room (sender
// included, as our chat does) and acknowledged. It stores nothing.
// Usage: node socketio-server.mjs <port> [plain|compress]. plain is socket.io's default (no
// permessage-deflate: the server declines the client's offer). compress answers the offer and
// compresses every frame: threshold 0, since socket.io's own `perMessageDeflate: true` keeps a
// threshold of 1024 bytes and would leave chat-sized frames (~300 bytes) uncompressed.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from 'socket.io';

const port = Number(process.argv[2]);
const http = createServer();
const compress = process.argv[3] === 'compress';
const io = new Server(http, { transports: ['websocket'], serveClient: false, perMessageDeflate: compress ? { threshold: 0 } : false });
let seq = 0;

io.on('connection', (socket) => {
  const room = String(socket.handshake.query.room ?? 'bench');
  socket.join(room);
  socket.on('message', (frame, ack) => {
    // The same fields our chat broadcasts, so both send messages of about the same size.
    const message = {
      message_id: randomUUID(),
      chat_id: room,
      seq: ++seq,
      sender_id: socket.id,
      role: 'user',
      content: frame.content,
      created_at: new Date().toISOString(),
      client_id: frame.client_id ?? null,
    };
    io.to(room).emit('message', message);
    if (typeof ack === 'function') ack({ type: 'ack', client_id: message.client_id, message_id: message.message_id, seq: message.seq });
  });
});

http.listen(port, '127.0.0.1', () => console.log('ready'));
