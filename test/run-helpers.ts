import { exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import type { RunEvent } from '../src/durable/protocol';
import { BASE, call, type TestUser } from './helpers';

/** An agent of `user`'s, in `workspaceId` when given. */
export async function agentOf(user: TestUser, workspaceId?: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await call('POST', '/agents', {
    token: user.token,
    body: { name: 'Helper', description: 'helps', type: 'chat', role: 'assistant', system_prompt: 'You are Helper.', ...body },
  });
  expect(res.status, res.text).toBe(201);
  const agentId: string = res.json.agent.agent_id;
  if (workspaceId) {
    const add = await call('POST', `/workspace/${workspaceId}/agent`, { token: user.token, body: { agent_id: agentId } });
    expect(add.status, add.text).toBe(200);
  }
  return agentId;
}

/** POST /agents/{agent_id}/chat as a raw Response (streams are read by SseReader). */
export const chatWith = (user: TestUser, agentId: string, body: Record<string, unknown>) =>
  exports.default.fetch(
    new Request(`${BASE}/agents/${agentId}/chat`, {
      method: 'POST',
      headers: { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  );

export const runEvents = (user: TestUser, runId: string, lastEventId?: string) =>
  exports.default.fetch(
    new Request(`${BASE}/runs/${runId}/events`, {
      headers: { authorization: `Bearer ${user.token}`, ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) },
    }),
  );

export interface SseEvent {
  id: string | null;
  event: RunEvent;
}

/** Reads a text/event-stream response event by event; comment lines are counted, not returned. */
export class SseReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private buffer = '';
  private readonly decoder = new TextDecoder();
  comments = 0;
  done = false;

  constructor(res: Response) {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    this.reader = res.body!.getReader();
  }

  /** The next event, or null at the end of the stream; fails the test if none comes within `ms`. */
  async next(ms = 5000): Promise<SseEvent | null> {
    for (;;) {
      const cut = this.buffer.indexOf('\n\n');
      if (cut >= 0) {
        const block = this.buffer.slice(0, cut);
        this.buffer = this.buffer.slice(cut + 2);
        const lines = block.split('\n');
        if (lines.every((l) => l.startsWith(':'))) {
          this.comments++;
          continue;
        }
        const id = lines.find((l) => l.startsWith('id: '))?.slice(4) ?? null;
        const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        return { id, event: JSON.parse(data) as RunEvent };
      }
      if (this.done) return null;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const chunk = await Promise.race([
        this.reader.read(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no SSE event arrived')), ms))),
      ]).finally(() => clearTimeout(timer));
      if (chunk.done) this.done = true;
      else this.buffer += this.decoder.decode(chunk.value, { stream: true });
    }
  }

  /** Every event until the stream ends. */
  async all(ms = 5000): Promise<SseEvent[]> {
    const out: SseEvent[] = [];
    for (let e = await this.next(ms); e; e = await this.next(ms)) out.push(e);
    return out;
  }

  cancel() {
    this.reader.cancel().catch(() => {});
  }
}

/** The text of a list of events' tokens. */
export const tokensText = (events: SseEvent[]) =>
  events.map((e) => (e.event.type === 'token' ? e.event.content : '')).join('');

/** Polls GET /runs/{run_id} until its status is one of `statuses` (a guard, not a sleep: it fails after `ms`). */
export async function runUntil(user: TestUser, runId: string, statuses: string[], ms = 5000) {
  const until = Date.now() + ms;
  for (;;) {
    const res = await call('GET', `/runs/${runId}`, { token: user.token });
    if (res.status === 200 && statuses.includes(res.json.run.status)) return res.json.run;
    if (Date.now() > until) throw new Error(`run ${runId} is ${res.json.run?.status ?? res.status}, not ${statuses.join('/')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
