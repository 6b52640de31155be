import { describe, expect, it } from 'vitest';
import { chatFailure } from '../src/chats/room';
import {
  type ChatMessage,
  configInvalid,
  encodeMessageFrame,
  encodeMessagesFrame,
  fail,
  type MessageFrame,
  type MessagesFrame,
  parseClientFrame,
} from '../src/durable/protocol';

const message = (seq: number): ChatMessage => ({
  message_id: `m-${seq}`,
  chat_id: 'c',
  seq,
  sender_id: 'u',
  role: 'user',
  content: `"quoted" \\ and ünïcode ${seq}`,
  created_at: new Date(0).toISOString(),
  client_id: seq % 2 ? null : `k-${seq}`,
});

describe('src/durable/protocol.ts', () => {
  it('the broadcast encoders write exactly what JSON.stringify writes for the typed frames', () => {
    const one: MessageFrame = { type: 'message', message: message(1) };
    expect(encodeMessageFrame(JSON.stringify(one.message))).toBe(JSON.stringify(one));
    const many: MessagesFrame = { type: 'messages', messages: [message(1), message(2), message(3)] };
    expect(encodeMessagesFrame(many.messages.map((m) => JSON.stringify(m)))).toBe(JSON.stringify(many));
  });

  it('parses client frames, answering each refusal with its own message', () => {
    expect(parseClientFrame('{"type":"ping","extra":1}')).toEqual({ ok: true, frame: { type: 'ping' } });
    expect(parseClientFrame('{"type":"message","message_string":"s","content":"hi","client_id":"k"}')).toEqual({
      ok: true,
      frame: { type: 'message', message_string: 's', content: 'hi', client_id: 'k' },
    });
    const refusal = (data: string | ArrayBuffer) => {
      const r = parseClientFrame(data);
      return r.ok ? null : r.msg;
    };
    expect(refusal(new ArrayBuffer(2))).toBe('Frames must be JSON text');
    expect(refusal('{')).toBe('Frames must be JSON text');
    expect(refusal('[1]')).toBe('Frames must be JSON objects');
    expect(refusal('null')).toBe('Frames must be JSON objects');
    expect(refusal('{}')).toBe('Unknown frame type');
    expect(refusal('{"type":"shout"}')).toBe('Unknown frame type');
    expect(refusal(JSON.stringify({ type: 'message', client_id: 'x'.repeat(129) }))).toBe('client_id must be a string of 1 to 128 characters');
  });

  it("routes map the object's refusals to HTTP errors in one place", () => {
    expect(chatFailure(fail('chat_not_found'))).toMatchObject({ status: 404, code: 'chat_not_found', msg: 'Chat not found', extra: {} });
    expect(chatFailure(fail('expired_connection_string'))).toMatchObject({ status: 401, msg: 'Connection string has expired' });
    expect(chatFailure(fail('invalid_content', 'too big'))).toMatchObject({ status: 400, code: 'invalid_content', msg: 'too big' });
    const bad = chatFailure(configInvalid('MESSAGE_MAX_BYTES', 'MESSAGE_MAX_BYTES must be an integer'));
    expect(bad).toMatchObject({ status: 503, code: 'config_invalid', extra: { var: 'MESSAGE_MAX_BYTES' } });
    expect(bad.msg).toBe('Invalid configuration: MESSAGE_MAX_BYTES must be an integer');
  });
});
