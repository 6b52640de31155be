/**
 * The Worker's one model client: a streamed OpenAI-compatible Chat Completions call, made by the
 * `@ai-sdk/openai-compatible` chat model's own `doStream`, configured by Config['llm'] (README
 * "Configuration": LLM_BASE_URL, LLM_API_KEY, LLM_MAX_RETRIES, LLM_TIMEOUT_MS).
 *
 * Why `doStream` and not the `ai` package's `streamText`: a run is persisted steps of one model call
 * each, driven by our own loop, so streamText's step loop, tool runner and telemetry buy nothing,
 * while importing `ai` pulls `@ai-sdk/gateway` and `@vercel/oidc` into the bundle. Measured with
 * `wrangler deploy --dry-run` (gzip -9 of index.js): the client cost +131 KB over streamText,
 * +38 KB over doStream; the whole bundle went from 444,553 to 348,690 bytes. The price is the few
 * things streamText did for us, done here: the retries and their waits, and mapping the prompt and
 * the stream parts (LanguageModelV4).
 *
 * - No LLM_BASE_URL: ModelError `model_unavailable` naming the var, and no request.
 * - 429 and 5xx (and 408, 409: the statuses the SDK counts retryable), and a fetch that fails
 *   without an answer (the connection), are retried up to LLM_MAX_RETRIES times, only before the
 *   response streams: once it answered 200, a failure is final, so text that already reached
 *   `onDelta` is never asked for twice. Other 4xx are not retried. The wait before retry n (from 0):
 *   `retry-after-ms`, else `Retry-After` (seconds or an HTTP date), when it is 0 to 60 s, as the
 *   SDK did; otherwise 500 ms * 2^n (500 ms, 1 s, 2 s, ...; the SDK started at 2 s).
 * - An exception thrown by `onDelta` stops the call and is rethrown as it is.
 * - LLM_TIMEOUT_MS bounds each wait on the network: for the answer's first byte (status and
 *   headers), and between two pieces of its body. Waits between retries and time spent in
 *   `onDelta` do not count. A timeout is not retried.
 * - Every failure of the endpoint is a ModelError `model_error` whose message names what happened
 *   (the status, the retries, a broken stream, the timeout); the SDK's error is its `cause`.
 * - `req.signal` aborting stops the request (or the wait before a retry) and rejects with
 *   `req.signal.reason` as it is.
 */
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { Config } from '../lib/config';
import { jsonOrText } from '../lib/json';

/** A tool call as the model asked for it: `arguments` is the JSON text it wrote. */
export interface ModelToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** A tool the model may call: `parameters` is a JSON Schema object. */
export interface ModelTool {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
}

export type ModelMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string }
  /** The model's earlier turn: its text and the tool calls it made. */
  | { role: 'assistant'; content: string; toolCalls?: ModelToolCall[] }
  /** A tool call's result (text), answering the call with `callId`. */
  | { role: 'tool'; callId: string; name: string; content: string };

export interface ModelRequest {
  model: string;
  messages: ModelMessage[];
  temperature?: number | null;
  topP?: number | null;
  maxTokens?: number | null;
  /** Tools the model may call (none: a plain answer). */
  tools?: ModelTool[];
  /** Aborted by the caller (cancel, run deadline, reply too long): callModel then rejects with signal.reason. */
  signal: AbortSignal;
  /** Each piece of text as it arrives, in order. */
  onDelta: (text: string) => void;
}

export interface ModelResult {
  text: string;
  finishReason: 'stop' | 'length' | 'tool_calls';
  /** The tool calls the model made (finishReason `tool_calls`); empty otherwise. */
  toolCalls: ModelToolCall[];
  usage: { input_tokens: number; output_tokens: number } | null;
  /** Date.now() when the first non-empty piece of text arrived. */
  firstTokenAt: number | null;
}

export class ModelError extends Error {
  readonly code: 'model_unavailable' | 'model_error';
  readonly extra: { var?: string; status?: number };
  constructor(code: 'model_unavailable' | 'model_error', msg: string, extra: { var?: string; status?: number } = {}) {
    super(msg);
    this.name = 'ModelError';
    this.code = code;
    this.extra = extra;
  }
}

// The provider's LanguageModelV4 types, taken from the provider (no import of @ai-sdk/provider).
type ChatModel = ReturnType<ReturnType<typeof createOpenAICompatible>['chatModel']>;
type CallOptions = Parameters<ChatModel['doStream']>[0];
type StreamPart = Awaited<ReturnType<ChatModel['doStream']>>['stream'] extends ReadableStream<infer P> ? P : never;
type Usage = Extract<StreamPart, { type: 'finish' }>['usage'];

/** Statuses worth asking again (the SDK's APICallError.isRetryable). */
const retryable = (status: number) => status === 408 || status === 409 || status === 429 || status >= 500;
const MAX_RETRY_AFTER_MS = 60_000;
const FIRST_BACKOFF_MS = 500;

/** The provider's usage as the run's `{ input_tokens, output_tokens }`; null when the endpoint sent none. */
export function modelTokens(usage: Usage | undefined): ModelResult['usage'] {
  const input = usage?.inputTokens.total;
  const output = usage?.outputTokens.total;
  if (input === undefined && output === undefined) return null;
  return { input_tokens: input ?? 0, output_tokens: output ?? 0 };
}

/** Our messages as the provider's prompt: system text as it is, the others as one text part. */
function prompt(messages: ModelMessage[]): CallOptions['prompt'] {
  return messages.map((m): CallOptions['prompt'][number] => {
    if (m.role === 'system') return { role: 'system', content: m.content };
    if (m.role === 'user') return { role: 'user', content: [{ type: 'text', text: m.content }] };
    if (m.role === 'tool') {
      return { role: 'tool', content: [{ type: 'tool-result', toolCallId: m.callId, toolName: m.name, output: { type: 'text', value: m.content } }] };
    }
    const calls = (m.toolCalls ?? []).map((c) => ({ type: 'tool-call' as const, toolCallId: c.id, toolName: c.name, input: jsonOrText(c.arguments) }));
    return { role: 'assistant', content: [...(m.content ? [{ type: 'text' as const, text: m.content }] : []), ...calls] };
  });
}


/** The wait before retry `n` (from 0): the answer's retry-after-ms or Retry-After when 0 to 60 s, else 500 ms * 2^n. */
function retryDelay(headers: Headers | undefined, n: number): number {
  let ms = parseFloat(headers?.get('retry-after-ms') ?? '');
  const after = headers?.get('retry-after');
  if (Number.isNaN(ms) && after) {
    const seconds = parseFloat(after);
    ms = Number.isNaN(seconds) ? Math.max(0, Date.parse(after) - Date.now()) : seconds * 1000; // an HTTP date
  }
  return ms >= 0 && ms <= MAX_RETRY_AFTER_MS ? ms : FIRST_BACKOFF_MS * 2 ** n;
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as it aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const abort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal.addEventListener('abort', abort, { once: true });
  });
}

/**
 * A fetch whose every network wait (the response head, then each read of its body) is bounded by
 * `ms`. When one runs out, `expire()` aborts the call and the pending read fails. `onHead` is told
 * of each answer (its status and headers), or null when the fetch failed without one.
 */
function timedFetch(ms: number, expire: () => Error, onHead: (res: Response | null) => void): typeof globalThis.fetch {
  const arm = (fail: (err: Error) => void) => setTimeout(() => fail(expire()), ms);
  return async (input, init) => {
    let timer = arm(() => {}); // expire() aborts the signal passed in init, failing this fetch
    let res: Response;
    try {
      res = await fetch(input, init);
    } catch (err) {
      onHead(null);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    onHead(res);
    if (!res.body) return res;
    const reader = res.body.getReader();
    let over = false; // timed out or cancelled: the controller takes nothing more
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        timer = arm((err) => {
          over = true;
          controller.error(err);
          reader.cancel(err).catch(() => {});
        });
        try {
          const { done, value } = await reader.read();
          if (over) return;
          if (done) controller.close();
          else controller.enqueue(value);
        } finally {
          clearTimeout(timer);
        }
      },
      cancel(reason) {
        over = true;
        return reader.cancel(reason);
      },
    });
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
}

/** What went wrong, as the ModelError a run reports. `head`: the last attempt's answer, if any. */
function toModelError(err: unknown, head: Response | null | undefined, retries: number): ModelError {
  const after = retries > 0 ? ` (after ${retries} ${retries === 1 ? 'retry' : 'retries'})` : '';
  let out: ModelError;
  if (head && !head.ok) out = new ModelError('model_error', `The model endpoint answered ${head.status}${after}`, { status: head.status });
  else if (!head) out = new ModelError('model_error', `The model endpoint could not be reached${after}`);
  else out = new ModelError('model_error', 'The model stream broke off before it finished');
  out.cause = err;
  return out;
}

/** One streamed Chat Completions call; see the module comment for retries, timeouts and errors. */
export async function callModel(llm: Config['llm'], req: ModelRequest): Promise<ModelResult> {
  if (!llm.baseUrl) throw new ModelError('model_unavailable', 'No model endpoint is configured: set LLM_BASE_URL', { var: 'LLM_BASE_URL' });
  req.signal.throwIfAborted();

  // Our own stop: the timeout, and the end of this call (so nothing outlives it).
  const stop = new AbortController();
  const signal = AbortSignal.any([req.signal, stop.signal]);
  let timedOut = false;
  const expire = () => {
    const err = new DOMException(`No answer within ${llm.timeoutMs} ms`, 'TimeoutError');
    timedOut = true;
    stop.abort(err);
    return err;
  };
  let head: Response | null | undefined; // the latest attempt's answer (each attempt fetches); null: the fetch failed without one
  const fetch = timedFetch(llm.timeoutMs, expire, (res) => (head = res));
  const provider = createOpenAICompatible({ name: 'openai-compatible', baseURL: llm.baseUrl, apiKey: llm.apiKey ?? undefined, includeUsage: true, fetch });
  const model = provider.chatModel(req.model);
  const options: CallOptions = {
    prompt: prompt(req.messages),
    temperature: req.temperature ?? undefined,
    topP: req.topP ?? undefined,
    maxOutputTokens: req.maxTokens ?? undefined,
    abortSignal: signal,
    ...(req.tools?.length
      ? { tools: req.tools.map((t) => ({ type: 'function' as const, name: t.name, description: t.description, inputSchema: t.parameters as never })) }
      : {}),
  };

  let text = '';
  let firstTokenAt: number | null = null;
  let finish: ModelResult['finishReason'] | null = null;
  let usage: ModelResult['usage'] = null;
  const toolCalls: ModelToolCall[] = [];
  let retries = 0;
  let failure: unknown = null;
  let thrown: { error: unknown } | null = null; // by onDelta
  try {
    let stream: ReadableStream<StreamPart>;
    for (;;) {
      try {
        ({ stream } = await model.doStream(options));
        break;
      } catch (err) {
        const again = head === null || (head !== undefined && retryable(head.status));
        if (signal.aborted || !again || retries >= llm.maxRetries) throw err;
      }
      await sleep(retryDelay(head?.headers, retries), signal);
      retries++;
    }
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value: part } = await reader.read();
        if (done || req.signal.aborted || timedOut) break; // nothing more reaches onDelta once stopped
        if (part.type === 'text-delta' && part.delta) {
          firstTokenAt ??= Date.now();
          text += part.delta;
          try {
            req.onDelta(part.delta);
          } catch (error) {
            thrown = { error };
            break;
          }
        } else if (part.type === 'error') {
          failure = part.error;
          break;
        } else if (part.type === 'tool-call') {
          toolCalls.push({ id: part.toolCallId, name: part.toolName, arguments: part.input });
        } else if (part.type === 'finish') {
          finish = part.finishReason.unified === 'length' ? 'length' : part.finishReason.unified === 'tool-calls' ? 'tool_calls' : 'stop';
          usage = modelTokens(part.usage);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
    if (failure === null && finish === null && !thrown) failure = new Error('The stream ended without a finish');
  } catch (err) {
    failure = err;
  } finally {
    stop.abort(); // releases the connection on every way out
  }
  if (req.signal.aborted) throw req.signal.reason;
  if (timedOut) throw new ModelError('model_error', `No answer from the model within LLM_TIMEOUT_MS (${llm.timeoutMs} ms)`);
  if (thrown) throw thrown.error;
  if (failure !== null) throw toModelError(failure, head, retries);
  return { text, finishReason: toolCalls.length ? 'tool_calls' : (finish ?? 'stop'), usage, firstTokenAt, toolCalls };
}
