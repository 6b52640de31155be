/**
 * Engine.IO v4 and Socket.IO v5, as far as the chat needs them: the wire codec, pure functions
 * (src/durable/chat-socketio.ts runs the sessions). Text only: binary packets (Engine.IO `b`,
 * Socket.IO BINARY_EVENT and BINARY_ACK) are refused, the chat's events carry JSON strings.
 * Like protocol.ts, this file imports nothing that needs Workers types.
 *
 * Engine.IO packets: a type digit and its data. Polling payloads join packets with the record
 * separator. Socket.IO packets ride in Engine.IO `message` packets:
 * `<type>[<namespace>,][<ack id>][<JSON data>]`, the namespace omitted for `/`.
 */

export const EIO_PROTOCOL = '4';
/** Engine.IO's own default; a chat message is limited by MESSAGE_MAX_BYTES well before this. */
export const MAX_PAYLOAD = 1_000_000;
export const RECORD_SEPARATOR = '\x1e';
/** The only namespace served. */
export const CHAT_NAMESPACE = '/chat';

export const EioType = { open: '0', close: '1', ping: '2', pong: '3', message: '4', upgrade: '5', noop: '6' } as const;
export const SioType = { connect: 0, disconnect: 1, event: 2, ack: 3, connectError: 4, binaryEvent: 5, binaryAck: 6 } as const;

/**
 * Engine.IO's HTTP errors (its server's codes and messages, which its clients know): every one
 * is a 400 with `{"code","message"}`; a client that meets one gives up the session and reconnects.
 */
export const EIO_ERRORS = {
  unknownTransport: { code: 0, message: 'Transport unknown' },
  unknownSid: { code: 1, message: 'Session ID unknown' },
  badHandshakeMethod: { code: 2, message: 'Bad handshake method' },
  badRequest: { code: 3, message: 'Bad request' },
  unsupportedVersion: { code: 5, message: 'Unsupported protocol version' },
} as const;
export type EioError = (typeof EIO_ERRORS)[keyof typeof EIO_ERRORS];
export const eioErrorResponse = (e: EioError, status = 400) => Response.json(e, { status });

export interface OpenData {
  sid: string;
  upgrades: string[];
  pingInterval: number;
  pingTimeout: number;
  maxPayload: number;
}
export const openPacket = (d: OpenData) => EioType.open + JSON.stringify(d);

/** A polling payload: the packets joined by the record separator. */
export const encodePayload = (packets: string[]) => packets.join(RECORD_SEPARATOR);
export const decodePayload = (body: string) => body.split(RECORD_SEPARATOR);

/** A Socket.IO packet (decoded from an Engine.IO message's data). */
export interface SioPacket {
  type: number;
  nsp: string;
  id?: number;
  data?: unknown;
}

/** Encodes a Socket.IO packet as an Engine.IO message packet (`4…`). */
export function encodeSio(p: SioPacket): string {
  let s = EioType.message + String(p.type);
  if (p.nsp !== '/') s += p.nsp + ',';
  if (p.id !== undefined) s += String(p.id);
  if (p.data !== undefined) s += JSON.stringify(p.data);
  return s;
}

/** An event to the chat namespace: `42/chat,["name",...args]`. */
export const sioEvent = (name: string, ...args: unknown[]) => encodeSio({ type: SioType.event, nsp: CHAT_NAMESPACE, data: [name, ...args] });

/**
 * Decodes an Engine.IO message's data (the text after `4`) as a Socket.IO packet; a string is
 * why it was refused (the server then closes the connection, as Socket.IO's does).
 */
export function decodeSio(text: string): SioPacket | string {
  const type = Number(text[0]);
  if (!/^[0-6]$/.test(text[0] ?? '')) return 'Unknown packet type';
  if (type === SioType.binaryEvent || type === SioType.binaryAck) return 'Binary packets are not supported';
  let i = 1;
  let nsp = '/';
  if (text[i] === '/') {
    const comma = text.indexOf(',', i);
    nsp = comma === -1 ? text.slice(i) : text.slice(i, comma);
    i = comma === -1 ? text.length : comma + 1;
  }
  let idText = '';
  while (i < text.length && text[i] >= '0' && text[i] <= '9' && idText.length < 16) idText += text[i++];
  const packet: SioPacket = { type, nsp };
  if (idText) packet.id = Number(idText);
  if (i < text.length) {
    try {
      packet.data = JSON.parse(text.slice(i));
    } catch {
      return 'Invalid JSON';
    }
  }
  if (packet.id !== undefined && type !== SioType.event && type !== SioType.ack) return 'Unexpected ack id';
  if (type === SioType.event && (!Array.isArray(packet.data) || packet.data.length === 0 || typeof packet.data[0] !== 'string')) {
    return 'An event must be a non-empty array starting with its name';
  }
  if (type === SioType.ack && !Array.isArray(packet.data)) return 'An ack must carry an array';
  if (type === SioType.connect && packet.data !== undefined && (typeof packet.data !== 'object' || packet.data === null || Array.isArray(packet.data))) {
    return 'CONNECT data must be an object';
  }
  return packet;
}

/** The sid: the chat id, a dot, 16 random bytes hex. The Worker routes a request by it alone. */
export function newSid(chatId: string): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `${chatId}.${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}
/** The chat id a sid names, or null for anything that is not one. */
export function chatOfSid(sid: string): string | null {
  const m = /^([A-Za-z0-9_-]{1,64})\.[0-9a-f]{32}$/.exec(sid);
  return m ? m[1] : null;
}

/** The one argument of `chat_message`: a JSON string (as python-socketio clients send it) or the object itself. */
export interface ChatMessageArg {
  message: unknown;
  chat_id?: unknown;
  message_string: unknown;
}
export function parseChatMessageArg(arg: unknown): ChatMessageArg | string {
  let v = arg;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch {
      return 'chat_message takes a JSON string {"message", "chat_id", "message_string"}';
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'chat_message takes a JSON string {"message", "chat_id", "message_string"}';
  const o = v as Record<string, unknown>;
  return { message: o.message, chat_id: o.chat_id, message_string: o.message_string };
}
