// The comparison server: socket.io 4.8, one room, each message broadcast to the room (sender
// included, as our chat does) and acknowledged. It stores nothing. Usage: node socketio-server.mjs <port>
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { Server } from 'socket.io';

const port = Number(process.argv[2]);
const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
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
