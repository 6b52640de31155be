// Agents phase: what answering through our Worker adds to a model's own stream. The local model
// server (test/model-server/server.mjs, in its own process) streams the same reply to three
// sides, in rotating order within each round:
//   direct   the harness POSTs /v1/chat/completions (stream: true) to the model server itself;
//   sse      POST /agents/{agent_id}/chat with stream: true (the Worker calls the model from the
//            chat's Durable Object and relays each token as an SSE `token` event);
//   sockets  the same route, on a chat with AGENTS.sockets WebSocket clients connected: timed at
//            the sockets (run.delta frames, coalesced per RUN_DELTA_WINDOW_MS, then run.finished).
// Every side checks that the text it received is the whole reply.
import { createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { freePort, sleep, start, stop } from '../scripts/lib/proc.mjs';
import { open as openSocket } from './fanout-ours.mjs';
import { call, newAgent, newChat } from './lib/api.mjs';
import { profiled } from './lib/profiler.mjs';
import { dist, percentile, round } from './lib/stats.mjs';
import { OUT, ROOT } from './lib/wrangler.mjs';

export const AGENTS = {
  tokens: 500,
  paceMs: 5,
  /** direct and SSE runs per round (interleaved) */
  runsPerRound: 5,
  /** runs per round of the chat with `sockets` sockets (each on a new chat) */
  socketRunsPerRound: 2,
  sockets: 100,
};
export const RUN_DELTA_WINDOW_MS = Number(/^RUN_DELTA_WINDOW_MS = "(\d+)"/m.exec(readFileSync(join(ROOT, 'wrangler.toml'), 'utf8'))?.[1] ?? 50);
const SYSTEM_PROMPT = 'You are the bench agent.';
export const CONNECT_PARALLEL = 10;
const RUN_TIMEOUT_MS = 60_000;
const SIDES = ['direct', 'sse', 'sockets'];

const now = () => performance.now();
// The tag makes the model server record the request (GET /_requests/<tag>): when it arrived there.
const directive = (shape, tag) => `[[mock ${JSON.stringify({ tokens: shape.tokens, pace_ms: shape.paceMs, tag })}]]`;
const messageFor = (shape, label) => `Bench ${label}. ${directive(shape, tagOf(label))}`;
const tagOf = (label) => `bench-${label.replace(/[^\w-]+/g, '-')}`;
const expectedText = (shape) => Array.from({ length: shape.tokens }, (_, i) => `tok${i + 1}`).join(' ');

/** Starts the model server (test/model-server/server.mjs) in its own process: { url, baseUrl, pid, stop }. */
export async function startModelServer() {
  const port = await freePort();
  const log = createWriteStream(join(OUT, 'model-server.log'));
  const child = start(process.execPath, [join(ROOT, 'test/model-server/server.mjs'), '--port', String(port)], { log });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error('the model server exited early; see bench/out/model-server.log');
    try {
      const res = await fetch(`${url}/health`);
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      // Not listening yet.
    }
    if (i > 200) {
      await stop(child);
      throw new Error('the model server did not answer /health in 10 s; see bench/out/model-server.log');
    }
    await sleep(50);
  }
  return {
    url,
    baseUrl: `${url}/v1`,
    pid: child.pid,
    stop: () => stop(child),
    /** Date.now() when the model server got the (one) request tagged `tag`; forgets the tag. */
    async arrival(tag) {
      const res = await fetch(`${url}/_requests/${encodeURIComponent(tag)}`);
      const list = await res.json();
      await (await fetch(`${url}/_requests/${encodeURIComponent(tag)}`, { method: 'DELETE' })).arrayBuffer();
      if (list.length !== 1) throw new Error(`the model server got ${list.length} requests tagged ${tag}, not 1`);
      return list[0].time;
    },
  };
}

/** Reads a text/event-stream body; calls onData(data text) per event, skips comment lines. */
async function readSse(res, onData) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    for (let cut = buffer.indexOf('\n\n'); cut >= 0; cut = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) onData(data);
    }
  }
}

/**
 * The run as the chat object recorded it (GET /runs/{run_id}, D1's mirror, written as the run
 * ends): started_at (admitted, model call begun) and first_token_at, as Date.now() values.
 */
async function runTimes(server, user, runId) {
  for (let i = 0; ; i++) {
    const { run } = await call(server.url, 'GET', `/runs/${runId}`, { token: user.token });
    if (run.finished_at && run.first_token_at) return { startedAt: Date.parse(run.started_at), firstTokenAt: Date.parse(run.first_token_at) };
    if (i > 100) throw new Error(`run ${runId}: GET /runs/{run_id} has no finished_at after 2 s`);
    await sleep(20);
  }
}

function checkText(side, text, expected) {
  if (text !== expected) throw new Error(`${side}: received ${text.length} characters, not the ${expected.length} of the reply (starts ${JSON.stringify(text.slice(0, 40))})`);
}

/** The model server's own stream: time to the first non-empty content delta and to the end of the body. */
async function directRun(model, shape, label) {
  const body = JSON.stringify({
    model: 'gpt-4o-mini',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'system', content: SYSTEM_PROMPT }, { role: 'user', content: messageFor(shape, label) }],
  });
  const wall0 = Date.now();
  const t0 = now();
  const res = await fetch(`${model.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  if (!res.ok) throw new Error(`direct: ${res.status} ${await res.text()}`);
  let first = null;
  let text = '';
  await readSse(res, (data) => {
    if (data === '[DONE]') return;
    const content = JSON.parse(data).choices?.[0]?.delta?.content;
    if (content) {
      first ??= now();
      text += content;
    }
  });
  const end = now();
  checkText('direct', text, expectedText(shape));
  return { ttftMs: first - t0, totalMs: end - t0, modelRequestMs: (await model.arrival(tagOf(label))) - wall0 };
}

/**
 * POST /agents/{agent_id}/chat (stream) on `chatId`: time to the first `token` event and to `end`.
 * `onSent(t0)` gets the time the request was sent (the sockets side times its frames from it).
 */
async function sseRun(server, model, user, agentId, chatId, shape, label, onSent = () => {}) {
  const body = JSON.stringify({ message: messageFor(shape, label), session_id: chatId, stream: true });
  const headers = { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' };
  const wall0 = Date.now();
  const t0 = now();
  onSent(t0);
  const res = await fetch(`${server.url}/agents/${agentId}/chat`, { method: 'POST', headers, body });
  if (!res.ok) throw new Error(`sse: POST /agents/{id}/chat -> ${res.status} ${(await res.text()).slice(0, 300)}`);
  let first = null;
  let startEvent = null;
  let end = null;
  let endEvent = null;
  let text = '';
  let tokenEvents = 0;
  await readSse(res, (data) => {
    const e = JSON.parse(data);
    if (e.type === 'start') startEvent = now();
    else if (e.type === 'token') {
      first ??= now();
      text += e.content;
      tokenEvents++;
    } else if (e.type === 'end') {
      end = now();
      endEvent = e;
    } else if (e.type === 'error') throw new Error(`sse: error event ${e.code}: ${e.msg}`);
  });
  if (!endEvent) throw new Error('sse: the stream ended without an end event');
  if (endEvent.status !== 'completed') throw new Error(`sse: the run ended ${endEvent.status}`);
  checkText('sse', text, expectedText(shape));
  const times = await runTimes(server, user, endEvent.run_id);
  return {
    ttftMs: first - t0,
    totalMs: end - t0,
    startMs: startEvent - t0,
    tokenEvents,
    // Wall-clock (Date.now(), ms) from sending the request: the run admitted in the chat object,
    // the model request at the model server, the first token in the chat object.
    admittedMs: times.startedAt - wall0,
    modelRequestMs: (await model.arrival(tagOf(label))) - wall0,
    objectFirstTokenMs: times.firstTokenAt - wall0,
  };
}

/**
 * A new chat with `sockets` WebSocket clients (permessage-deflate offered, ws's default), then
 * one run through the SSE route on it; each socket's run.delta frames and run.finished are timed
 * from the request. Returns the per-socket figures and the SSE side's own.
 */
async function socketsRun(server, model, user, agentId, shape, label, sockets = AGENTS.sockets) {
  const chatId = await newChat(server.url, user.token, user.workspaceId);
  const expected = expectedText(shape);
  const state = Array.from({ length: sockets }, () => ({ deltas: [], text: '', finished: null, status: null }));
  let finishedCount = 0;
  let allFinished;
  const finished = new Promise((resolve) => (allFinished = resolve));
  const onFrame = (k) => (frame) => {
    const t = now();
    const s = state[k];
    if (frame.type === 'run.delta') {
      s.deltas.push(t);
      s.text += frame.text;
    } else if (frame.type === 'run.finished' || frame.type === 'run.failed') {
      s.finished = t;
      s.status = frame.type === 'run.failed' ? `failed ${frame.code}` : frame.status;
      if (++finishedCount === sockets) allFinished();
    }
  };
  const clients = [];
  try {
    for (let k = 0; k < sockets; k += CONNECT_PARALLEL) {
      const batch = [];
      for (let j = k; j < Math.min(sockets, k + CONNECT_PARALLEL); j++) batch.push(openSocket(server.url, user.token, chatId, false, true, onFrame(j)));
      clients.push(...(await Promise.all(batch)));
    }
    let t0 = 0;
    // The harness's own event-loop delay during the run: a stall delays (and bunches) frames here.
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const sse = await sseRun(server, model, user, agentId, chatId, shape, label, (t) => (t0 = t));
    let timer;
    await Promise.race([
      finished,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`sockets: ${finishedCount} of ${sockets} sockets saw run.finished within ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    loop.disable();
    const W = RUN_DELTA_WINDOW_MS;
    const per = state.map((s, k) => {
      if (s.status !== 'completed') throw new Error(`sockets: socket ${k} saw the run end ${s.status}`);
      checkText(`sockets (socket ${k})`, s.text, expected);
      const gaps = s.deltas.slice(1).map((t, i) => t - s.deltas[i]);
      // At most one frame per window: in the span from the request to run.finished at this socket.
      const allowed = Math.floor((s.finished - t0) / W) + 1;
      return {
        firstDeltaMs: s.deltas[0] - t0,
        finishedMs: s.finished - t0,
        frames: s.deltas.length,
        allowed,
        // The same rule over the span of the deltas themselves (first to last delta), stricter.
        allowedDeltaSpan: Math.floor((s.deltas.at(-1) - s.deltas[0]) / W) + 1,
        minGapMs: gaps.length ? Math.min(...gaps) : null,
        // Without the last frame: the run's end flushes what is pending at once.
        minGapBeforeLastMs: gaps.length > 1 ? Math.min(...gaps.slice(0, -1)) : null,
        gapsBeforeLast: gaps.length - 1,
        shortGapsBeforeLast: gaps.slice(0, -1).filter((g) => g < W / 2).length,
      };
    });
    return { sse, per, extensions: [...new Set(clients.map((c) => c.extensions || 'none'))].join(', '), loopDelayMaxMs: loop.max / 1e6, loopDelayP99Ms: loop.percentile(99) / 1e6 };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

/** The phase: an agent in the user's workspace, warm-ups, then `rounds` rounds in rotating side order. */
export async function agentsPhase({ server, user, model, rounds, step, shape = AGENTS }) {
  const agentId = await newAgent(server.url, user.token, { workspaceId: user.workspaceId, system_prompt: SYSTEM_PROMPT });
  step('agents: warm-up (one run of each side, 10 sockets)');
  await directRun(model, shape, 'warm-up');
  await sseRun(server, model, user, agentId, await newChat(server.url, user.token, user.workspaceId), shape, 'warm-up');
  await socketsRun(server, model, user, agentId, shape, 'warm-up sockets', 10);

  const runs = { direct: [], sse: [], sockets: [] };
  for (let i = 1; i <= rounds; i++) {
    const order = SIDES.map((_, k) => SIDES[(k + i - 1) % SIDES.length]);
    step(`agents round ${i}/${rounds}: ${shape.runsPerRound} runs of ${order.join(', ')} (interleaved; sockets: ${shape.socketRunsPerRound} runs of ${shape.sockets})`);
    await profiled(server.inspectorPort, join(OUT, `agents-${i}.cpuprofile`), async () => {
      for (let j = 0; j < shape.runsPerRound; j++) {
        for (const side of order) {
          const label = `r${i} ${side} ${j}`;
          if (side === 'direct') runs.direct.push({ round: i, ...(await directRun(model, shape, label)) });
          else if (side === 'sse') {
            const chatId = await newChat(server.url, user.token, user.workspaceId);
            runs.sse.push({ round: i, ...(await sseRun(server, model, user, agentId, chatId, shape, label)) });
          } else if (j < shape.socketRunsPerRound) runs.sockets.push({ round: i, ...(await socketsRun(server, model, user, agentId, shape, label)) });
        }
      }
    });
  }

  const side = (list) => ({
    ttft: dist(list.map((x) => x.ttftMs)),
    modelRequest: dist(list.map((x) => x.modelRequestMs)),
    ...(list[0].admittedMs !== undefined && { admitted: dist(list.map((x) => x.admittedMs)), objectFirstToken: dist(list.map((x) => x.objectFirstTokenMs)) }),
    total: dist(list.map((x) => x.totalMs)),
    ttftByRound: Array.from({ length: rounds }, (_, k) => round(percentile(list.filter((x) => x.round === k + 1).map((x) => x.ttftMs), 50), 1)),
    totalByRound: Array.from({ length: rounds }, (_, k) => round(percentile(list.filter((x) => x.round === k + 1).map((x) => x.totalMs), 50), 1)),
  });
  const sockets = runs.sockets.flatMap((r) => r.per);
  const over = sockets.filter((s) => s.frames > s.allowed);
  const overSpan = sockets.filter((s) => s.frames > s.allowedDeltaSpan);
  const gaps = sockets.map((s) => s.minGapBeforeLastMs).filter((g) => g !== null);
  const lastGaps = sockets.map((s) => s.minGapMs).filter((g) => g !== null);
  const direct = side(runs.direct);
  const sse = side(runs.sse);
  const firstDelta = dist(sockets.map((s) => s.firstDeltaMs));
  const finishedAll = dist(sockets.map((s) => s.finishedMs));
  return {
    shape: { ...shape, windowMs: RUN_DELTA_WINDOW_MS },
    direct,
    sse,
    sseTokenEvents: dist(runs.sse.map((x) => x.tokenEvents)),
    sseStart: dist(runs.sse.map((x) => x.startMs)),
    sockets: {
      runs: runs.sockets.length,
      samples: sockets.length,
      extensions: [...new Set(runs.sockets.map((r) => r.extensions))].join(', '),
      firstDelta,
      finished: finishedAll,
      // Per run: p50 over its sockets of the first delta, p50 and max of run.finished.
      perRun: runs.sockets.map((r) => ({
        round: r.round,
        firstDeltaP50Ms: round(percentile(r.per.map((s) => s.firstDeltaMs), 50), 1),
        finishedP50Ms: round(percentile(r.per.map((s) => s.finishedMs), 50), 1),
        finishedMaxMs: round(Math.max(...r.per.map((s) => s.finishedMs)), 1),
        sseTtftMs: round(r.sse.ttftMs, 1),
        sseTotalMs: round(r.sse.totalMs, 1),
      })),
      sse: {
        ttft: dist(runs.sockets.map((r) => r.sse.ttftMs)),
        total: dist(runs.sockets.map((r) => r.sse.totalMs)),
        start: dist(runs.sockets.map((r) => r.sse.startMs)),
        modelRequest: dist(runs.sockets.map((r) => r.sse.modelRequestMs)),
        admitted: dist(runs.sockets.map((r) => r.sse.admittedMs)),
        objectFirstToken: dist(runs.sockets.map((r) => r.sse.objectFirstTokenMs)),
      },
      loopDelayMaxMs: round(Math.max(...runs.sockets.map((r) => r.loopDelayMaxMs)), 1),
      loopDelayP99Ms: round(Math.max(...runs.sockets.map((r) => r.loopDelayP99Ms)), 1),
      frames: {
        min: Math.min(...sockets.map((s) => s.frames)),
        max: Math.max(...sockets.map((s) => s.frames)),
        maxAllowed: Math.max(...sockets.map((s) => s.allowed)),
        socketsOver: over.length,
        worstExcess: Math.max(0, ...sockets.map((s) => s.frames - s.allowed)),
        socketsOverDeltaSpan: overSpan.length,
        worstExcessDeltaSpan: Math.max(0, ...sockets.map((s) => s.frames - s.allowedDeltaSpan)),
        minGapBeforeLastMs: round(Math.min(...gaps), 1),
        p50MinGapBeforeLastMs: round(percentile(gaps, 50), 1),
        minGapMs: round(Math.min(...lastGaps), 1),
        // Gaps under half a window at the sockets (the last one excepted), of all such gaps.
        shortGapShare: round(sockets.reduce((a, s) => a + s.shortGapsBeforeLast, 0) / sockets.reduce((a, s) => a + s.gapsBeforeLast, 0), 3),
      },
    },
    addedFirstTokenMs: { sse: round(sse.ttft.p50Ms - direct.ttft.p50Ms, 1), sockets: round(firstDelta.p50Ms - direct.ttft.p50Ms, 1) },
    addedTotalMs: { sse: round(sse.total.p50Ms - direct.total.p50Ms, 1), sockets: round(finishedAll.p50Ms - direct.total.p50Ms, 1) },
  };
}
