// The local model server (test/model-server/server.mjs) speaks OpenAI's Chat Completions wire format:
// raw requests from the Workers runtime, through the same outbound path the Worker's model calls take.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { mock, modelRequests, uniqueTag } from './model-helpers';

const completions = (body: object, headers: Record<string, string> = {}) =>
  fetch(`${env.MODEL_SERVER_URL}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

const ask = (content: string, extra: object = {}) => ({ model: 'mock-model', messages: [{ role: 'user', content }], ...extra });

/** The `data:` payloads of an event stream, parsed (`[DONE]` kept as the string). */
async function events(res: Response): Promise<any[]> {
  const text = await res.text();
  expect(text.endsWith('\n\n')).toBe(true);
  return text
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      expect(block.startsWith('data: ')).toBe(true);
      const data = block.slice('data: '.length);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}

describe('model server: streaming', () => {
  it('sends a role chunk, one chunk per token, a finish chunk, the usage chunk and [DONE]', async () => {
    const res = await completions(ask(mock({ reply: 'Hello brave  new world.' }), { stream: true, stream_options: { include_usage: true } }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const all = await events(res);
    expect(all.at(-1)).toBe('[DONE]');
    const chunks = all.slice(0, -1);
    for (const c of chunks) expect(c).toMatchObject({ id: chunks[0].id, object: 'chat.completion.chunk', created: expect.any(Number), model: 'mock-model' });
    expect(chunks[0].choices).toEqual([{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
    const tokens = chunks.slice(1, -2).map((c) => c.choices[0].delta.content);
    expect(tokens).toEqual(['Hello', ' brave', '  new', ' world.']);
    expect(chunks.at(-2).choices).toEqual([{ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' }]);
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 4, total_tokens: 9 } }); // words of the message, directive included
  });

  it('sends no usage chunk unless asked, nor with usage: false', async () => {
    for (const body of [ask(mock({ tokens: 2 }), { stream: true }), ask(mock({ tokens: 2, usage: false }), { stream: true, stream_options: { include_usage: true } })]) {
      const all = await events(await completions(body));
      expect(all.filter((c) => c !== '[DONE]' && c.usage)).toEqual([]);
      expect(all.at(-2).choices[0].finish_reason).toBe('stop');
    }
  });

  it('finishes with `length` at max_tokens or max_completion_tokens', async () => {
    for (const limit of [{ max_tokens: 2 }, { max_completion_tokens: 2 }]) {
      const all = await events(await completions(ask(mock({ tokens: 5 }), { stream: true, stream_options: { include_usage: true }, ...limit })));
      const text = all.slice(1, -3).map((c) => c.choices[0].delta.content).join('');
      expect(text).toBe('tok1 tok2');
      expect(all.at(-3).choices[0].finish_reason).toBe('length');
      expect(all.at(-2).usage.completion_tokens).toBe(2);
    }
  });

  it('streams tool calls as OpenAI deltas, arguments split over chunks', async () => {
    const all = await events(await completions(ask(mock({ tool_calls: [{ name: 'lookup', arguments: { q: 'weather', n: 2 } }] }), { stream: true })));
    const deltas = all.slice(1, -2).map((c) => c.choices[0].delta.tool_calls[0]);
    expect(deltas[0]).toEqual({ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'lookup', arguments: '' } });
    expect(deltas.length).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(deltas.map((d) => d.function.arguments).join(''))).toEqual({ q: 'weather', n: 2 });
    expect(all.at(-2).choices[0].finish_reason).toBe('tool_calls');
  });
});

describe('model server: answers', () => {
  it('answers a chat.completion without stream, echoing the last user message by default', async () => {
    const res = await completions(ask('Hi there'));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      id: expect.stringMatching(/^chatcmpl-/),
      object: 'chat.completion',
      created: expect.any(Number),
      model: 'mock-model',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Echo: Hi there' }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 },
    });
  });

  it('answers tool calls without stream', async () => {
    const json: any = await (await completions(ask(mock({ tool_calls: [{ name: 'f', arguments: { a: 1 } }] })))).json();
    expect(json.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { role: 'assistant', content: null, tool_calls: [{ type: 'function', function: { name: 'f', arguments: '{"a":1}' } }] } });
  });

  it('answers scripted errors OpenAI-style, with Retry-After, failing only fail_times times per tag', async () => {
    const tag = uniqueTag();
    const body = ask(mock({ status: 429, retry_after: 3, fail_times: 2, tag }));
    for (let i = 0; i < 2; i++) {
      const res = await completions(body);
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('3');
      expect(await res.json()).toEqual({ error: { message: 'Mock error 429', type: 'rate_limit_error', param: null, code: 'rate_limit_exceeded' } });
    }
    expect((await completions(body)).status).toBe(200);
    const res = await completions(ask(mock({ status: 500 })));
    expect(res.status).toBe(500);
    expect(((await res.json()) as any).error.type).toBe('server_error');
  });

  it('refuses a request without messages, or with a broken directive', async () => {
    expect((await completions({ model: 'mock-model' })).status).toBe(400);
    const res = await completions(ask('[[mock {nope}]]'));
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.type).toBe('invalid_request_error');
  });

  it('lists mock-model', async () => {
    const res = await fetch(`${env.MODEL_SERVER_URL}/v1/models`);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'mock-model', object: 'model' }] });
  });
});

describe('model server: records', () => {
  it('records tagged requests with body and headers, and forgets them on DELETE', async () => {
    const tag = uniqueTag();
    await completions(ask(mock({ tag }), { temperature: 0.5 }), { authorization: 'Bearer sk-recorded' });
    const [rec] = await modelRequests(tag);
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/chat/completions', body: { temperature: 0.5 }, headers: { authorization: 'Bearer sk-recorded' }, outcome: 'completed' });
    expect(rec.time).toEqual(expect.any(Number));
    expect((await fetch(`${env.MODEL_SERVER_URL}/_requests/${tag}`, { method: 'DELETE' })).status).toBe(200);
    expect(await modelRequests(tag)).toEqual([]);
  });

  it('serves concurrent streams independently', async () => {
    const replies = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const all = await events(await completions(ask(mock({ tokens: i + 1, pace_ms: 5 }), { stream: true })));
        return all.slice(1, -2).map((c) => c.choices[0].delta.content).join('');
      }),
    );
    replies.forEach((text, i) => expect(text.split(' ')).toHaveLength(i + 1));
  });
});
