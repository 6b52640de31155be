// src/model/client.ts against the local model server (test/model-server/server.mjs), through the
// Worker's real outbound fetch: streaming, parameters, retries, timeouts, aborts, keys.
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { config } from '../src/lib/config';
import { callModel, ModelError, type ModelMessage, type ModelRequest, type ModelResult } from '../src/model/client';
import { mock, modelRequests, uniqueTag, type ModelRequestRecord } from './model-helpers';

type Llm = ReturnType<typeof config>['llm'];

/** The test config's llm (LLM_BASE_URL is the model server) with small timeouts, and overrides. */
const llm = (over: Partial<Llm> = {}): Llm => ({ ...config(env).llm, timeoutMs: 1000, maxRetries: 2, ...over });

interface Outcome {
  result?: ModelResult;
  error?: unknown;
  deltas: string[];
  ms: number;
}

/** One callModel; never throws: the result or the error, the deltas seen and the time taken. */
async function run(cfg: Llm, content: string, extra: Partial<ModelRequest> = {}): Promise<Outcome> {
  const deltas: string[] = [];
  const started = Date.now();
  try {
    const result = await callModel(cfg, {
      model: 'mock-model',
      messages: [{ role: 'user', content }],
      signal: new AbortController().signal,
      onDelta: (t) => deltas.push(t),
      ...extra,
    });
    return { result, deltas, ms: Date.now() - started };
  } catch (error) {
    return { error, deltas, ms: Date.now() - started };
  }
}

function expectModelError(out: Outcome, message: string | RegExp, status?: number): ModelError {
  expect(out.result).toBeUndefined();
  expect(out.error).toBeInstanceOf(ModelError);
  const err = out.error as ModelError;
  expect(err.code).toBe('model_error');
  if (typeof message === 'string') expect(err.message).toBe(message);
  else expect(err.message).toMatch(message);
  expect(err.extra.status).toBe(status);
  return err;
}

/** Polls what the server recorded for `tag` until `check` holds (the server sees a close a little later). */
async function recordedUntil(tag: string, check: (r: ModelRequestRecord[]) => boolean, ms = 2000): Promise<ModelRequestRecord[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const records = await modelRequests(tag);
    if (check(records) || Date.now() > deadline) return records;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const words = (messages: { content: string }[]) => messages.reduce((n, m) => n + (m.content.match(/\S+/g) ?? []).length, 0);

describe('callModel: streaming', () => {
  it('delivers the streamed text in order through onDelta, equal to the result, with the usage', async () => {
    const tag = uniqueTag();
    const content = mock({ tokens: 5, tag }, 'Count to five');
    const out = await run(llm(), content);
    expect(out.error).toBeUndefined();
    expect(out.deltas).toEqual(['tok1', ' tok2', ' tok3', ' tok4', ' tok5']);
    expect(out.result).toMatchObject({ text: 'tok1 tok2 tok3 tok4 tok5', finishReason: 'stop' });
    expect(out.result!.usage).toEqual({ input_tokens: words([{ content }]), output_tokens: 5 });
    expect(out.result!.firstTokenAt).toEqual(expect.any(Number));

    const [req] = await modelRequests(tag);
    expect(req.path).toBe('/v1/chat/completions');
    expect(req.body).toMatchObject({ model: 'mock-model', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content }] });
    expect(req.body).not.toHaveProperty('temperature');
    expect(req.body).not.toHaveProperty('max_tokens');
  });

  it('hands over each chunk as it arrives, not when the answer is complete', async () => {
    const out = await run(llm(), mock({ tokens: 4, pace_ms: 120 }));
    expect(out.result!.text).toBe('tok1 tok2 tok3 tok4');
    const started = Date.now() - out.ms;
    // The first token comes after one pace, the answer after five (four tokens and the finish chunk).
    expect(out.result!.firstTokenAt! - started).toBeLessThan(out.ms - 300);
  });

  it('keeps the messages, system and assistant ones included, in their order', async () => {
    const messages: ModelMessage[] = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello.' },
      { role: 'user', content: mock({ echo: true }, 'Again') },
    ];
    const out = await run(llm(), '', { messages });
    expect(JSON.parse(out.result!.text)).toEqual(messages);
  });

  it('sends temperature, top_p and max_tokens when set', async () => {
    const tag = uniqueTag();
    const out = await run(llm(), mock({ tokens: 3, tag }), { temperature: 0.25, topP: 0.5, maxTokens: 7 });
    expect(out.result!.finishReason).toBe('stop');
    const [req] = await modelRequests(tag);
    expect(req.body).toMatchObject({ temperature: 0.25, top_p: 0.5, max_tokens: 7 });
  });

  it('reports `length` when max tokens cut the answer', async () => {
    const out = await run(llm(), mock({ tokens: 10 }), { maxTokens: 3 });
    expect(out.result).toMatchObject({ text: 'tok1 tok2 tok3', finishReason: 'length' });
    expect(out.result!.usage!.output_tokens).toBe(3);
  });

  it('answers null usage when the endpoint sends none', async () => {
    const out = await run(llm(), mock({ reply: 'Hello world', usage: false }));
    expect(out.result).toMatchObject({ text: 'Hello world', finishReason: 'stop', usage: null });
  });

  it('sends the API key as a bearer token when one is set, and no Authorization header otherwise', async () => {
    const withKey = uniqueTag();
    const without = uniqueTag();
    await run(llm({ apiKey: 'sk-test-0123456789' }), mock({ tag: withKey }));
    await run(llm({ apiKey: null }), mock({ tag: without }));
    expect((await modelRequests(withKey))[0].headers.authorization).toBe('Bearer sk-test-0123456789');
    expect((await modelRequests(without))[0].headers).not.toHaveProperty('authorization');
  });
});

describe('callModel: configuration', () => {
  it('is model_unavailable without LLM_BASE_URL, and sends nothing', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ baseUrl: null }), mock({ tag }));
    expect(out.error).toBeInstanceOf(ModelError);
    const err = out.error as ModelError;
    expect(err.code).toBe('model_unavailable');
    expect(err.message).toBe('No model endpoint is configured: set LLM_BASE_URL');
    expect(err.extra).toEqual({ var: 'LLM_BASE_URL' });
    expect(await modelRequests(tag)).toEqual([]);
  });
});

describe('callModel: retries', () => {
  it('retries a 429 after its Retry-After, then streams the answer', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 2 }), mock({ status: 429, retry_after: 1, fail_times: 1, tag, reply: 'after the wait' }));
    expect(out.result).toMatchObject({ text: 'after the wait', finishReason: 'stop' });
    const reqs = await modelRequests(tag);
    expect(reqs.map((r) => r.outcome)).toEqual(['error_status', 'completed']);
    expect(reqs[1].time - reqs[0].time).toBeGreaterThanOrEqual(950);
  });

  it('gives up after LLM_MAX_RETRIES retries of a 500, naming the status', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 2 }), mock({ status: 500, retry_after: 0, tag }));
    expectModelError(out, 'The model endpoint answered 500 (after 2 retries)', 500);
    expect(await modelRequests(tag)).toHaveLength(3);
  });

  it('does not retry when LLM_MAX_RETRIES is 0', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 0 }), mock({ status: 503, retry_after: 0, tag }));
    expectModelError(out, 'The model endpoint answered 503', 503);
    expect(await modelRequests(tag)).toHaveLength(1);
  });

  it('does not retry a 400', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 2 }), mock({ status: 400, retry_after: 0, tag }));
    expectModelError(out, 'The model endpoint answered 400', 400);
    expect(await modelRequests(tag)).toHaveLength(1);
  });

  it('retries a 408 and a 409 too (the statuses the SDK counts retryable)', async () => {
    for (const status of [408, 409]) {
      const tag = uniqueTag();
      const out = await run(llm({ maxRetries: 1 }), mock({ status, retry_after: 0, fail_times: 1, tag, reply: 'second time' }));
      expect(out.result).toMatchObject({ text: 'second time' });
      expect((await modelRequests(tag)).map((r) => r.outcome)).toEqual(['error_status', 'completed']);
    }
  });

  it('backs off 500 ms, then 1 s, without Retry-After', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 2 }), mock({ status: 503, tag }));
    expectModelError(out, 'The model endpoint answered 503 (after 2 retries)', 503);
    const times = (await modelRequests(tag)).map((r) => r.time);
    expect(times).toHaveLength(3);
    expect(times[1] - times[0]).toBeGreaterThanOrEqual(450);
    expect(times[1] - times[0]).toBeLessThan(900);
    expect(times[2] - times[1]).toBeGreaterThanOrEqual(950);
    expect(times[2] - times[1]).toBeLessThan(1600);
  });

  it('ignores a Retry-After over 60 s and backs off instead', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 1 }), mock({ status: 429, retry_after: 120, fail_times: 1, tag }));
    expect(out.result).toMatchObject({ text: 'ok' });
    const [first, second] = await modelRequests(tag);
    expect(second.time - first.time).toBeLessThan(1000);
  });

  it('honours a Retry-After given as an HTTP date', async () => {
    const tag = uniqueTag();
    const date = new Date(Date.now() + 2000).toUTCString(); // whole seconds: 1 to 2 s from now
    const out = await run(llm({ maxRetries: 1 }), mock({ status: 503, retry_after: date, fail_times: 1, tag }));
    expect(out.result).toMatchObject({ text: 'ok' });
    const [first, second] = await modelRequests(tag);
    expect(second.time - first.time).toBeGreaterThanOrEqual(900);
    expect(second.time - first.time).toBeLessThan(2500);
  });

  it('retries an endpoint that cannot be reached, then names it', async () => {
    const out = await run(llm({ baseUrl: 'http://127.0.0.1:9/v1', maxRetries: 1 }), 'Hi');
    expectModelError(out, 'The model endpoint could not be reached (after 1 retry)');
    expect(out.ms).toBeGreaterThanOrEqual(450); // the one backoff
  });

  it('fails a stream that breaks off, without asking again', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ maxRetries: 2 }), mock({ tokens: 5, break_after: 2, tag }));
    expectModelError(out, 'The model stream broke off before it finished');
    expect(out.deltas.join('')).toBe('tok1 tok2');
    expect(await modelRequests(tag)).toHaveLength(1);
  });
});

describe('callModel: LLM_TIMEOUT_MS', () => {
  const timeoutMsg = 'No answer from the model within LLM_TIMEOUT_MS (200 ms)';

  it('bounds the wait for the first byte, and hangs up', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ timeoutMs: 200 }), mock({ first_byte_ms: 1500, tag }));
    expectModelError(out, timeoutMsg);
    expect(out.ms).toBeLessThan(1200);
    const reqs = await recordedUntil(tag, (r) => r[0]?.outcome === 'client_closed');
    expect(reqs).toHaveLength(1);
    expect(reqs[0].outcome).toBe('client_closed');
  });

  it('bounds the gap between two chunks', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ timeoutMs: 200 }), mock({ tokens: 3, pace_ms: 600, tag }));
    expectModelError(out, timeoutMsg);
    expect(out.ms).toBeLessThan(1200); // not the 2.4 s the answer would take
    expect(await modelRequests(tag)).toHaveLength(1); // a timeout is not retried
  });

  it('fails a stream that stops in the middle, and hangs up', async () => {
    const tag = uniqueTag();
    const out = await run(llm({ timeoutMs: 200 }), mock({ tokens: 5, hang_after: 2, tag }));
    expectModelError(out, timeoutMsg);
    expect(out.deltas.join('')).toBe('tok1 tok2');
    const reqs = await recordedUntil(tag, (r) => r[0]?.outcome === 'client_closed');
    expect(reqs[0].outcome).toBe('client_closed');
  });

  it('lets an answer take longer than LLM_TIMEOUT_MS in all, as long as chunks keep coming', async () => {
    const out = await run(llm({ timeoutMs: 400 }), mock({ tokens: 6, pace_ms: 100 }));
    expect(out.result!.text).toBe('tok1 tok2 tok3 tok4 tok5 tok6');
    expect(out.ms).toBeGreaterThan(600);
  });
});

describe('callModel: abort', () => {
  it('stops mid-stream and rejects with the signal reason', async () => {
    const tag = uniqueTag();
    const controller = new AbortController();
    const deltas: string[] = [];
    const out = await run(llm(), mock({ tokens: 50, pace_ms: 20, tag }), {
      signal: controller.signal,
      onDelta: (t) => {
        deltas.push(t);
        if (deltas.length === 3) controller.abort('cancelled');
      },
    });
    expect(out.error).toBe('cancelled');
    expect(deltas).toEqual(['tok1', ' tok2', ' tok3']);
    const reqs = await recordedUntil(tag, (r) => r[0]?.outcome === 'client_closed');
    expect(reqs).toHaveLength(1);
    expect(reqs[0].outcome).toBe('client_closed');
    expect(reqs[0].chunks).toBeLessThan(50);
  });

  it('stops when onDelta throws, and rethrows that error as it is', async () => {
    const tag = uniqueTag();
    const full = new Error('reply too long');
    const out = await run(llm(), mock({ tokens: 50, pace_ms: 20, tag }), {
      onDelta: () => {
        throw full;
      },
    });
    expect(out.error).toBe(full);
    const reqs = await recordedUntil(tag, (r) => r[0]?.outcome === 'client_closed');
    expect(reqs[0].outcome).toBe('client_closed');
    expect(reqs[0].chunks).toBeLessThan(50);
  });

  it('rejects with the reason as it is: during a retry wait, and before any request', async () => {
    const tag = uniqueTag();
    const reason = new Error('run deadline');
    const out = await run(llm({ maxRetries: 2 }), mock({ status: 429, retry_after: 5, tag }), { signal: AbortSignal.timeout(300) });
    expect(out.error).toBeInstanceOf(DOMException);
    expect((out.error as DOMException).name).toBe('TimeoutError');
    expect(out.ms).toBeLessThan(2000);
    expect(await modelRequests(tag)).toHaveLength(1);

    const controller = new AbortController();
    controller.abort(reason);
    const before = await run(llm(), mock({ tag: `${tag}-b` }), { signal: controller.signal });
    expect(before.error).toBe(reason);
    expect(await modelRequests(`${tag}-b`)).toEqual([]);
  });
});
