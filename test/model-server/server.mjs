// A local, protocol-faithful OpenAI-compatible model server for tests, the browser test and the
// benchmarks. Plain Node, node: built-ins only.
//
//   import { startModelServer } from './test/model-server/server.mjs';
//   const server = await startModelServer();        // { url, port, close() }; models at `${url}/v1`
//   node test/model-server/server.mjs --port 8788   // prints "model server listening on <url>"
//
// POST /v1/chat/completions answers like OpenAI's Chat Completions: a `chat.completion` object, or
// with `stream: true` server-sent `chat.completion.chunk` events (a role chunk, one chunk per token,
// a finish chunk, the usage chunk when `stream_options.include_usage`, then `data: [DONE]`).
// What it answers is scripted by a directive in the LAST user message: `[[mock {JSON}]]` with
// (all optional):
//   reply         the answer text (default without a directive: `Echo: <last user message>`; with one: `ok`)
//   tokens        n: the reply is `tok1 tok2 … tokN`
//   pace_ms       delay between chunks
//   first_byte_ms delay before the status line and headers
//   status        answer this HTTP error status with an OpenAI-style error body
//   retry_after   seconds, sent as Retry-After with the error
//   fail_times    only the first n requests carrying this `tag` fail with `status` (needs `tag`)
//   hang_after    after n token chunks stop writing, keep the connection open until the client leaves
//   break_after   after n token chunks destroy the socket
//   usage         false: never send usage
//   echo          true: the reply is JSON.stringify(messages)
//   tool_calls    [{ name, arguments: object }]: answer tool calls (finish_reason `tool_calls`)
//   tag           record the request under this tag
//   steps         [directive, ...]: a tool loop's answers; the step is the number of assistant
//                 messages after the last user message (each tool round adds one), so the first
//                 request gets steps[0], the one after its tool results steps[1], ... (the last
//                 one repeats). In a step's `reply`, {{tool}} is the last tool message's content.
// Requests with a tag are recorded: GET /_requests/<tag> lists them ({ method, path, body, headers,
// time, outcome, chunks }), DELETE /_requests/<tag> forgets them. `outcome` ends as `completed`,
// `error_status`, `client_closed` (the client went away first), `broken` (break_after) or `server_closed`;
// `chunks` counts the token chunks written. GET /v1/models lists `mock-model`.
import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const ERROR_TYPES = {
  400: ['invalid_request_error', null],
  401: ['authentication_error', 'invalid_api_key'],
  403: ['permission_error', null],
  404: ['not_found_error', 'model_not_found'],
  408: ['timeout_error', null],
  409: ['conflict_error', null],
  422: ['invalid_request_error', null],
  429: ['rate_limit_error', 'rate_limit_exceeded'],
};

/** The text of a message's content: a string, or the text parts of an array of parts. */
function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p.text === 'string' ? p.text : '')).join('');
  return '';
}

/**
 * The `[[mock {...}]]` directive in `text`: `{ directive, rest }` (rest: the text without it),
 * `{ directive: null, rest: text }` without one, `{ error }` when its JSON does not parse.
 */
export function parseDirective(text) {
  const start = text.indexOf('[[mock ');
  if (start < 0) return { directive: null, rest: text };
  const from = start + '[[mock '.length;
  for (let end = text.indexOf('}]]', from); end >= 0; end = text.indexOf('}]]', end + 1)) {
    try {
      const directive = JSON.parse(text.slice(from, end + 1));
      if (directive && typeof directive === 'object' && !Array.isArray(directive)) {
        return { directive, rest: (text.slice(0, start) + text.slice(end + 3)).trim() };
      }
    } catch {
      // a `}]]` inside the JSON: try the next one
    }
  }
  return { error: 'The [[mock ...]] directive is not a JSON object' };
}

/** Word-ish tokens that keep their spaces: joining them gives back exactly `text`. */
export function tokenize(text) {
  return text.match(/\s*\S+|\s+/g) ?? [];
}

const countWords = (text) => (text.match(/\S+/g) ?? []).length;

function errorBody(status, message) {
  const [type, code] = ERROR_TYPES[status] ?? (status >= 500 ? ['server_error', null] : ['invalid_request_error', null]);
  return { error: { message, type, param: null, code } };
}

export async function startModelServer({ port = 0, host = '127.0.0.1' } = {}) {
  /** tag -> recorded requests */
  const records = new Map();
  /** tag -> how many requests carrying it failed on purpose (fail_times) */
  const failures = new Map();

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      // A bug here must not take the server down; answer 500 if nothing was sent yet.
      console.error('model server:', err);
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, errorBody(500, 'Mock server failure'));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;

  async function handle(req, res) {
    req.socket.setNoDelay(true);
    const url = new URL(req.url ?? '/', 'http://mock');
    const path = url.pathname.replace(/\/+$/, '') || '/';

    const recorded = /^\/_requests\/([^/]+)$/.exec(path);
    if (recorded) {
      const tag = decodeURIComponent(recorded[1]);
      if (req.method === 'GET') return sendJson(res, 200, records.get(tag) ?? []);
      if (req.method === 'DELETE') {
        records.delete(tag);
        failures.delete(tag);
        return sendJson(res, 200, { deleted: tag });
      }
      return sendJson(res, 405, errorBody(405, `Method ${req.method} not allowed`));
    }
    if (path === '/v1/models' && req.method === 'GET') {
      return sendJson(res, 200, { object: 'list', data: [{ id: 'mock-model', object: 'model', created: 0, owned_by: 'mock' }] });
    }
    if (path === '/v1/chat/completions' && req.method === 'POST') return completions(req, res);
    if (path === '/health' || path === '/') return sendJson(res, 200, { ok: true });
    return sendJson(res, 404, errorBody(404, `Unknown path ${req.method} ${path}`));
  }

  async function completions(req, res) {
    const raw = await readBody(req);
    let body;
    try {
      body = JSON.parse(raw);
    } catch {
      return sendJson(res, 400, errorBody(400, 'The request body is not valid JSON'));
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) return sendJson(res, 400, errorBody(400, 'The request body must be a JSON object'));
    if (typeof body.model !== 'string' || !body.model) return sendJson(res, 400, errorBody(400, 'you must provide a model parameter'));
    if (!Array.isArray(body.messages) || body.messages.length === 0) return sendJson(res, 400, errorBody(400, "'messages' must be a non-empty array"));

    const lastUser = [...body.messages].reverse().find((m) => m && m.role === 'user');
    const lastText = lastUser ? contentText(lastUser.content) : '';
    const parsed = parseDirective(lastText);
    if (parsed.error) return sendJson(res, 400, errorBody(400, parsed.error));
    let d = parsed.directive ?? {};
    if (Array.isArray(d.steps) && d.steps.length) {
      const lastUserAt = body.messages.lastIndexOf(lastUser);
      const step = body.messages.slice(lastUserAt + 1).filter((m) => m?.role === 'assistant').length;
      const lastTool = [...body.messages].reverse().find((m) => m?.role === 'tool');
      const current = { ...d.steps[Math.min(step, d.steps.length - 1)] };
      if (typeof current.reply === 'string') current.reply = current.reply.replaceAll('{{tool}}', lastTool ? contentText(lastTool.content) : '');
      d = { ...d, steps: undefined, ...current };
    }
    const tag = typeof d.tag === 'string' ? d.tag : null;

    const entry = { method: req.method, path: req.url, body, headers: { ...req.headers }, time: Date.now(), outcome: 'pending', chunks: 0 };
    if (tag) records.set(tag, [...(records.get(tag) ?? []), entry]);

    // The request's life: aborted when the client goes away (or close() drops it) before the end.
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        if (entry.outcome === 'pending' || entry.outcome === 'hung') entry.outcome = closing ? 'server_closed' : 'client_closed';
        gone.abort();
      }
    });
    const wait = (ms) => sleep(ms, gone.signal);

    if (d.first_byte_ms > 0) await wait(d.first_byte_ms);
    if (gone.signal.aborted) return;

    if (d.status) {
      const failed = failures.get(tag) ?? 0;
      if (d.fail_times === undefined || (tag && failed < d.fail_times)) {
        if (tag) failures.set(tag, failed + 1);
        entry.outcome = 'error_status';
        const headers = d.retry_after !== undefined ? { 'retry-after': String(d.retry_after) } : {};
        return sendJson(res, d.status, errorBody(d.status, `Mock error ${d.status}`), headers);
      }
    }

    const toolCalls = Array.isArray(d.tool_calls) ? d.tool_calls : [];
    let reply;
    if (typeof d.reply === 'string') reply = d.reply;
    else if (d.echo === true) reply = JSON.stringify(body.messages);
    else if (Number.isInteger(d.tokens)) reply = Array.from({ length: d.tokens }, (_, i) => `tok${i + 1}`).join(' ');
    else if (toolCalls.length) reply = '';
    else reply = parsed.directive ? 'ok' : `Echo: ${lastText}`;

    let tokens = tokenize(reply);
    const max = body.max_completion_tokens ?? body.max_tokens;
    let finish = toolCalls.length ? 'tool_calls' : 'stop';
    if (Number.isInteger(max) && max >= 0 && tokens.length > max) {
      tokens = tokens.slice(0, max);
      finish = 'length';
    }
    const promptTokens = body.messages.reduce((n, m) => n + countWords(contentText(m?.content)), 0);
    const usage = (completion) => ({ prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion });
    const id = `chatcmpl-${randomUUID().replaceAll('-', '').slice(0, 24)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = body.model;
    const calls = toolCalls.map((c, i) => ({
      id: `call_${randomUUID().replaceAll('-', '').slice(0, 24)}`,
      name: String(c?.name ?? `tool${i}`),
      arguments: JSON.stringify(c?.arguments ?? {}),
    }));

    if (body.stream !== true) {
      if (d.break_after !== undefined) {
        entry.outcome = 'broken';
        return req.socket.destroy();
      }
      if (d.hang_after !== undefined) {
        entry.outcome = 'hung';
        return; // never answer; the client (or close()) ends it
      }
      entry.chunks = tokens.length;
      entry.outcome = 'completed';
      const message = { role: 'assistant', content: tokens.length || !calls.length ? tokens.join('') : null };
      if (calls.length) message.tool_calls = calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      const completion = {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
        ...(d.usage === false ? {} : { usage: usage(tokens.length) }),
      };
      return sendJson(res, 200, completion);
    }

    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const chunk = (delta, finishReason = null) => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    });
    /** Writes one event; false once the client is gone. Waits for the socket to drain. */
    const send = async (data) => {
      if (gone.signal.aborted) return false;
      const line = `data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
      if (!res.write(line)) await drained(res, gone.signal);
      return !gone.signal.aborted;
    };
    const pace = async () => {
      if (d.pace_ms > 0) await wait(d.pace_ms);
      return !gone.signal.aborted;
    };

    if (!(await send(chunk({ role: 'assistant', content: '' })))) return;
    for (const token of tokens) {
      if (d.break_after !== undefined && entry.chunks >= d.break_after) return breakOff(req.socket, entry);
      if (d.hang_after !== undefined && entry.chunks >= d.hang_after) {
        if (entry.outcome === 'pending') entry.outcome = 'hung';
        return; // keep the connection open, write nothing more
      }
      if (!(await pace())) return;
      if (!(await send(chunk({ content: token })))) return;
      entry.chunks += 1;
    }
    if (d.break_after !== undefined && entry.chunks >= d.break_after) return breakOff(req.socket, entry);
    if (d.hang_after !== undefined && entry.chunks >= d.hang_after) {
      entry.outcome = 'hung';
      return;
    }
    for (const [index, call] of calls.entries()) {
      if (!(await pace())) return;
      const head = { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } };
      if (!(await send(chunk({ tool_calls: [head] })))) return;
      const half = Math.ceil(call.arguments.length / 2);
      for (const part of [call.arguments.slice(0, half), call.arguments.slice(half)]) {
        if (!(await send(chunk({ tool_calls: [{ index, function: { arguments: part } }] })))) return;
      }
    }
    if (!(await pace())) return;
    if (!(await send(chunk({}, finish)))) return;
    if (body.stream_options?.include_usage === true && d.usage !== false) {
      if (!(await send({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(entry.chunks) }))) return;
    }
    if (!(await send('[DONE]'))) return;
    entry.outcome = 'completed';
    res.end();
  }

  let closing = false;
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shownHost}:${actualPort}`;

  return {
    url,
    port: actualPort,
    /** Stops listening and drops every open connection (streams in flight, hung ones, idle keep-alives). */
    close() {
      closing = true;
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/**
 * Ends the connection in the middle of the response: what was written reaches the client, then
 * the socket closes without the chunked body's last chunk, so the client sees a broken response.
 */
function breakOff(socket, entry) {
  entry.outcome = 'broken';
  socket.write('', () => socket.destroy());
}

function sendJson(res, status, value, headers = {}) {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on('data', (c) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function drained(res, signal) {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      signal.removeEventListener('abort', done);
      resolve();
    };
    res.on('drain', done);
    signal.addEventListener('abort', done, { once: true });
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name, fallback) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
  };
  const server = await startModelServer({ port: Number(arg('port', process.env.PORT ?? 8788)), host: arg('host', '127.0.0.1') });
  console.log(`model server listening on ${server.url}`);
  const stop = () => server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
