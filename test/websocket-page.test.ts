import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_CHAT_DELETED,
  CLOSE_SESSION_REVOKED,
  clientFrameSchema,
  FRAME_ERROR_CODES,
  PING_TEXT,
  PONG_TEXT,
  type FailureCode,
  type ServerFrame,
} from '../src/durable/protocol';
import { BASE } from './helpers';

/**
 * public/websocket.html (served as /websocket by the assets binding) documents every frame of
 * src/durable/protocol.ts. The lists below are typed against the protocol's own types, so a new
 * frame type or refusal fails typecheck here until the page and this test name it.
 */
const SERVER_FRAME_TYPES = Object.keys({ ready: 1, message: 1, messages: 1, ack: 1, error: 1, pong: 1 } satisfies Record<ServerFrame['type'], 1>);
const CONNECT_REFUSALS = Object.keys({
  chat_not_found: 1,
  invalid_connection_string: 1,
  expired_connection_string: 1,
  session_revoked: 1,
  config_invalid: 1,
  // The object's refusal of a process's post (src/chats/room.ts), never of a connect.
  invalid_content: 0,
} satisfies Record<FailureCode, 0 | 1>).filter((code) => code !== 'invalid_content');

const page = async (path: string) => {
  const res = await env.ASSETS.fetch(new Request(BASE + path));
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
};
const names = (html: string, frameType: string) => new RegExp(`"type":\\s*"${frameType}"`).test(html);

describe('the WebSocket protocol page', () => {
  it('is served with its own stylesheet, and no inline script or style', async () => {
    const res = await page('/websocket');
    expect(res.status).toBe(200);
    expect(res.type).toContain('text/html');
    expect(res.text).toContain('<link rel="stylesheet" href="/websocket.css">');
    expect(res.text).not.toMatch(/<script|<style|\sstyle=|\son[a-z]+=/i);
    expect(res.text).not.toMatch(/https?:\/\//);
    const css = await page('/websocket.css');
    expect(css.status).toBe(200);
    expect(css.type).toContain('text/css');
  });

  it('shows every client and server frame of src/durable/protocol.ts with an example', async () => {
    const { text } = await page('/websocket');
    const clientTypes = clientFrameSchema.options.map((o) => o.shape.type.value);
    expect(clientTypes.sort()).toEqual(['message', 'ping']);
    for (const type of [...clientTypes, ...SERVER_FRAME_TYPES]) expect(names(text, type), type).toBe(true);
    expect(text).toContain(PING_TEXT);
    expect(text).toContain(PONG_TEXT);
  });

  it('lists the error codes, close codes, connect refusals and query parameters', async () => {
    const { text } = await page('/websocket');
    for (const code of FRAME_ERROR_CODES) expect(text, code).toContain(`<code>${code}</code>`);
    for (const code of CONNECT_REFUSALS) expect(text, code).toContain(`<code>${code}</code>`);
    for (const close of [CLOSE_SESSION_REVOKED, CLOSE_CHAT_DELETED]) {
      expect(text).toContain(`<code>${close.code}</code>`);
      expect(text).toContain(`<code>${close.reason}</code>`);
    }
    for (const param of ['chat_id', 'connection_string', 'after_seq', 'batch']) expect(text, param).toContain(`<code>${param}</code>`);
    expect(text).toContain('batch=1');
    expect(text).toMatch(/"var":\s*"[A-Z_]+"/);
    expect(text).toContain('503');
  });
});
