import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import {
  CLOSE_CHAT_DELETED,
  CLOSE_SESSION_REVOKED,
  type ClientFrame,
  clientFrameSchema,
  FRAME_ERROR_CODES,
  parseClientFrame,
  PING_TEXT,
  PONG_TEXT,
  type FailureCode,
  type ServerFrame,
} from '../src/durable/protocol';
import { BASE } from './helpers';

/**
 * public/websocket.html (served as /websocket by the assets binding) documents every frame of
 * src/durable/protocol.ts. The lists below are typed against the protocol's own types, so a new
 * frame type, frame field or failure code fails typecheck here until the page and this test name it.
 */

/** Each field of a frame type: 1 required, 0 optional. */
type FieldMarks<F> = { [K in keyof F]-?: {} extends Pick<F, K> ? 0 : 1 };
type FramesOf<F extends { type: string }> = { [T in F['type']]: FieldMarks<Extract<F, { type: T }>> };
const SERVER_FRAMES: FramesOf<ServerFrame> = {
  ready: { type: 1, chat_id: 1, user_id: 1, last_seq: 1 },
  message: { type: 1, message: 1 },
  messages: { type: 1, messages: 1 },
  ack: { type: 1, client_id: 1, message_id: 1, seq: 1, next_message_string: 1, duplicate: 0 },
  error: { type: 1, code: 1, msg: 1, client_id: 1, retry_after: 0, var: 0 },
  pong: { type: 1 },
  'run.started': { type: 1, run_id: 1, agent_id: 1, reply_to_seq: 1 },
  'run.delta': { type: 1, run_id: 1, text: 1 },
  'run.finished': { type: 1, run_id: 1, status: 1, usage: 1 },
  'run.failed': { type: 1, run_id: 1, code: 1, msg: 1 },
  'run.tool_call': { type: 1, run_id: 1, call_id: 1, name: 1, kind: 1, arguments: 1 },
  'run.tool_result': { type: 1, run_id: 1, call_id: 1, output: 0, error: 0 },
  'run.approval_required': { type: 1, run_id: 1, call_id: 1, approval_id: 1, name: 1, arguments: 1 },
};
const CLIENT_FRAMES: FramesOf<ClientFrame> = {
  ping: { type: 1 },
  message: { type: 1, message_string: 1, content: 1, client_id: 0, agent_id: 0 },
  cancel: { type: 1, run_id: 1 },
  tool_outputs: { type: 1, run_id: 1, tool_outputs: 1 },
};
/** The codes marked 1. */
const marked = (codes: Record<string, 0 | 1>) => Object.entries(codes).filter(([, v]) => v === 1).map(([code]) => code);
/** 1: the connect path refuses with it (an HTTP error before any upgrade). */
const CONNECT_REFUSALS = marked({
  chat_not_found: 1,
  invalid_connection_string: 1,
  expired_connection_string: 1,
  session_revoked: 1,
  config_invalid: 1,
  // The object's refusal of a process's post (src/chats/room.ts), never of a connect.
  invalid_content: 0,
  // Runs' codes: a run.failed frame's, the cancel frame's error frames, or the HTTP routes' only.
  agent_not_found: 0,
  agent_not_in_workspace: 0,
  agent_offline: 0,
  run_not_found: 0,
  run_not_active: 0,
  run_not_waiting: 0,
  tool_call_not_found: 0,
  run_in_progress: 0,
  model_unavailable: 0,
  model_error: 0,
  model_not_allowed: 0,
  budget_exceeded: 0,
  run_timeout: 0,
  run_interrupted: 0,
} satisfies Record<FailureCode, 0 | 1>);
/**
 * 1: a run.failed frame may carry it (src/durable/chat-runs.ts: a refusal at admission of a chat
 * message's run, or the run's own failure; model_not_allowed and budget_exceeded also when a
 * queued follow-up run is admitted again as it starts). run_in_progress is the HTTP route's alone
 * (a chat message to a busy agent queues a follow-up run); a deleted chat's runs end cancelled.
 */
const RUN_FAILED_CODES = marked({
  agent_not_found: 1,
  agent_not_in_workspace: 1,
  agent_offline: 1,
  model_unavailable: 1,
  model_error: 1,
  model_not_allowed: 1,
  budget_exceeded: 1,
  run_timeout: 1,
  run_interrupted: 1,
  run_not_found: 0,
  run_not_active: 0,
  run_not_waiting: 0,
  tool_call_not_found: 0,
  run_in_progress: 0,
  chat_not_found: 0,
  invalid_connection_string: 0,
  expired_connection_string: 0,
  session_revoked: 0,
  config_invalid: 0,
  invalid_content: 0,
} satisfies Record<FailureCode, 0 | 1>);

const page = async (path: string) => {
  const res = await env.ASSETS.fetch(new Request(BASE + path));
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
};
const names = (html: string, frameType: string) => new RegExp(`"type":\\s*"${frameType.replace('.', '\\.')}"`).test(html);
/** The HTML of one <section id=...>. */
const section = (html: string, id: string) => {
  const start = html.indexOf(`<section id="${id}">`);
  expect(start, `section #${id}`).toBeGreaterThanOrEqual(0);
  return html.slice(start, html.indexOf('</section>', start));
};
/** The JSON objects shown in a piece of the page's <pre><code> blocks (other blocks are skipped). */
const examples = (html: string): Record<string, unknown>[] =>
  [...html.matchAll(/<pre><code>([\s\S]*?)<\/code><\/pre>/g)].flatMap(([, code]) => {
    const json = code.replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&');
    try {
      const value: unknown = JSON.parse(json);
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? [value as Record<string, unknown>] : [];
    } catch {
      return [];
    }
  });

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

  it('shows every client and server frame of src/durable/protocol.ts with an example of its fields', async () => {
    const { text } = await page('/websocket');
    const clientTypes = clientFrameSchema.options.map((o) => o.shape.type.value);
    expect(clientTypes.sort()).toEqual(Object.keys(CLIENT_FRAMES).sort());
    for (const type of [...clientTypes, ...Object.keys(SERVER_FRAMES)]) expect(names(text, type), type).toBe(true);
    expect(text).toContain(PING_TEXT);
    expect(text).toContain(PONG_TEXT);

    // Every example in "Client frames" is a frame the object accepts, and names only its fields.
    const client = examples(section(text, 'client-frames'));
    for (const [type, fields] of Object.entries(CLIENT_FRAMES)) {
      const shown = client.filter((e) => e.type === type);
      expect(shown.length, `a ${type} client frame example`).toBeGreaterThan(0);
      for (const e of shown) {
        expect(parseClientFrame(JSON.stringify(e)).ok, JSON.stringify(e)).toBe(true);
        expect(Object.keys(e).filter((k) => !(k in fields)), type).toEqual([]);
      }
    }
    // The message example shows its optional fields too.
    expect(Object.keys(client.find((e) => e.type === 'message')!).sort()).toEqual(Object.keys(CLIENT_FRAMES.message).sort());

    // Every server frame has an example in "Server frames" with its required fields and no others.
    const server = examples(section(text, 'server-frames'));
    for (const [type, fields] of Object.entries(SERVER_FRAMES) as [string, Record<string, 0 | 1>][]) {
      const shown = server.filter((e) => e.type === type);
      expect(shown.length, `a ${type} server frame example`).toBeGreaterThan(0);
      for (const e of shown) {
        expect(Object.keys(e).filter((k) => !(k in fields)), type).toEqual([]);
        expect(Object.keys(fields).filter((k) => fields[k] === 1 && !(k in e)), type).toEqual([]);
      }
    }
    const finished = server.filter((e) => e.type === 'run.finished').map((e) => e.status);
    expect(finished.sort()).toEqual(['cancelled', 'completed']);
  });

  it('explains agent runs: the frames in order, joining mid-run, and every code a run.failed frame carries', async () => {
    const { text } = await page('/websocket');
    const runs = section(text, 'runs');
    const order = ['run.started', 'run.delta', 'message', 'run.finished'].map((t) => runs.indexOf(`<code>${t}</code>`));
    expect(order.every((i) => i >= 0), 'the run frames are named in #runs').toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(runs).toContain('<code>run.failed</code>');
    for (const code of RUN_FAILED_CODES) expect(runs, code).toContain(`<code>${code}</code>`);
    expect(runs).toMatch(/connects during a run/);
    // The client frames' new parts say what they do and how they fail.
    const client = section(text, 'client-frames');
    for (const s of ['<code>agent_id</code>', 'PUT /chat/agent', '<code>run_not_found</code>', '<code>run_not_active</code>']) expect(client, s).toContain(s);
  });

  it('lists the error codes, close codes, connect refusals and query parameters', async () => {
    const { text } = await page('/websocket');
    for (const code of FRAME_ERROR_CODES) expect(section(text, 'errors'), code).toContain(`<code>${code}</code>`);
    for (const code of CONNECT_REFUSALS) expect(section(text, 'connect'), code).toContain(`<code>${code}</code>`);
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

describe('/websocket: Socket.IO clients', () => {
  it('names the path, namespace, query, every event and both clients, each with an example', async () => {
    const { text } = await page('/websocket');
    const sio = section(text, 'socketio');
    for (const s of ['/socket.io/', '/chat', 'chat_id', 'connection_string', 'chat_message', 'feedback', 'message', 'chat_information']) {
      expect(sio, s).toContain(`<code>${s}</code>`);
    }
    for (const s of ['"message_received"', '"message_string"', '"busy"', '"idle"']) expect(sio, s).toContain(s);
    expect(sio).toContain('python-socketio');
    expect(sio).toContain('socket.io-client');
    const code = [...sio.matchAll(/<pre><code>([\s\S]*?)<\/code><\/pre>/g)].map(([, c]) => c);
    expect(code).toHaveLength(2);
    expect(code[0]).toContain('socketio.Client(');
    expect(code[1]).toContain("from 'socket.io-client'");
    for (const c of code) expect(c.split('\n').length, c).toBeLessThanOrEqual(11);
  });
});
