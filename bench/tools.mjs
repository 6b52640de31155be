// Tools phase: what a tool round trip through our Worker adds to the two model calls it makes.
// An agent with the built-in tool `list_tasks` answers POST /agents/{agent_id}/chat (JSON, not
// streamed) on a new chat each run; the model server's `steps` directive answers the first call
// with a `list_tasks` tool call and the second (after the tool result) with "done", so the Worker
// makes two streamed model calls with the tool run (a D1 read) in between. The other side makes the
// same two calls itself:
//   direct   the harness POSTs, one after the other, the two bodies the model server recorded for
//            the Worker's calls in the warm-up (only the tag differs, same length), reading each
//            stream to `[DONE]`;
//   ours     POST /agents/{agent_id}/chat, timed to the end of the JSON answer.
// Both sides are timed from sending their first request; the model server's record of each call
// (GET /_requests/<tag>: Date.now() when it arrived) and the run's own times (GET /runs/{run_id}:
// started_at, the tool call's created_at/finished_at) split ours into steps.
import { join } from 'node:path';
import { call, newAgent, newChat } from './lib/api.mjs';
import { profiled } from './lib/profiler.mjs';
import { dist, percentile, round } from './lib/stats.mjs';
import { OUT } from './lib/wrangler.mjs';

export const TOOLS = {
  /** runs of each side per round, interleaved */
  runsPerRound: 10,
  /** tasks the user has when list_tasks reads them */
  tasks: 3,
};
const SYSTEM_PROMPT = 'You are the bench agent.';
const SIDES = ['direct', 'ours'];

const now = () => performance.now();
// Fixed width, so the direct bodies (the warm-up's with the tag swapped) keep their length.
const tagOf = (round, side, j) => `bench-tools-${String(round).padStart(2, '0')}-${side === 'ours' ? 'ours' : 'dirc'}-${String(j).padStart(3, '0')}`;
const directive = (tag) => `[[mock ${JSON.stringify({ steps: [{ tool_calls: [{ name: 'list_tasks', arguments: {} }] }, { reply: 'done' }], tag })}]]`;

/** The model server's records of `tag` (then forgotten): exactly `count` of them, or an error. */
async function recorded(model, tag, count) {
  const res = await fetch(`${model.url}/_requests/${encodeURIComponent(tag)}`);
  const list = await res.json();
  await (await fetch(`${model.url}/_requests/${encodeURIComponent(tag)}`, { method: 'DELETE' })).arrayBuffer();
  if (list.length !== count) throw new Error(`tools: the model server got ${list.length} requests tagged ${tag}, not ${count}`);
  for (const r of list) if (r.outcome !== 'completed') throw new Error(`tools: a request tagged ${tag} ended ${r.outcome}`);
  return list;
}

/** Reads a text/event-stream body to the end: whether `data: [DONE]` came. */
async function drainSse(res) {
  const text = await res.text();
  return text.includes('data: [DONE]');
}

/** One run through our Worker: the JSON answer, then the records and the run's times. */
async function oursRun(server, model, user, agentId, tag) {
  const chatId = await newChat(server.url, user.token, user.workspaceId);
  const body = JSON.stringify({ message: `Bench tools. ${directive(tag)}`, session_id: chatId });
  const headers = { authorization: `Bearer ${user.token}`, 'content-type': 'application/json' };
  const wall0 = Date.now();
  const t0 = now();
  const res = await fetch(`${server.url}/agents/${agentId}/chat`, { method: 'POST', headers, body });
  const text = await res.text();
  const totalMs = now() - t0;
  const wallEnd = Date.now();
  if (!res.ok) throw new Error(`tools: POST /agents/{id}/chat -> ${res.status} ${text.slice(0, 300)}`);
  const answer = JSON.parse(text);
  if (answer.status !== 'completed' || answer.message !== 'done') throw new Error(`tools: the run ended ${answer.status} with ${JSON.stringify(answer.message).slice(0, 200)}`);
  const [first, second] = await recorded(model, tag, 2);
  const { run } = await call(server.url, 'GET', `/runs/${answer.run_id}`, { token: user.token });
  const tc = run.tool_calls?.[0];
  if (run.tool_calls?.length !== 1 || tc.name !== 'list_tasks' || tc.status !== 'completed') throw new Error(`tools: the run's tool calls: ${JSON.stringify(run.tool_calls).slice(0, 300)}`);
  return {
    totalMs,
    bodies: [first.body, second.body],
    // Wall clock (Date.now(), whole ms) from sending the request.
    admittedMs: Date.parse(run.started_at) - wall0,
    call1Ms: first.time - wall0,
    toolCreatedMs: Date.parse(tc.created_at) - wall0,
    toolFinishedMs: Date.parse(tc.finished_at) - wall0,
    call2Ms: second.time - wall0,
    runFinishedMs: Date.parse(run.finished_at) - wall0,
    wallTotalMs: wallEnd - wall0,
    tasks: tc.output?.tasks?.length,
  };
}

/** The same two model calls made by the harness, one after the other, each read to [DONE]. */
async function directRun(model, bodies, warmTag, tag) {
  const texts = bodies.map((b) => JSON.stringify(b).replaceAll(warmTag, tag));
  const wall0 = Date.now();
  const t0 = now();
  const marks = [];
  for (const text of texts) {
    const res = await fetch(`${model.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: text });
    if (!res.ok) throw new Error(`tools: direct: ${res.status} ${await res.text()}`);
    if (!(await drainSse(res))) throw new Error('tools: direct: the stream ended without [DONE]');
    marks.push(now() - t0);
  }
  const totalMs = now() - t0;
  const wallEnd = Date.now();
  const [first, second] = await recorded(model, tag, 2);
  return { totalMs, firstEndMs: marks[0], call1Ms: first.time - wall0, call2Ms: second.time - wall0, wallTotalMs: wallEnd - wall0 };
}

/** The phase: the agent, tasks to list, a warm-up (whose recorded bodies the direct side replays), then `rounds` rounds. */
export async function toolsPhase({ server, user, model, rounds, step, shape = TOOLS }) {
  const agentId = await newAgent(server.url, user.token, { workspaceId: user.workspaceId, system_prompt: SYSTEM_PROMPT, tools: [{ name: 'list_tasks' }] });
  for (let i = 0; i < shape.tasks; i++) await call(server.url, 'POST', '/tasks', { token: user.token, body: { title: `Bench task ${i + 1}`, workspace_id: user.workspaceId } });
  step('tools: warm-up (3 runs through our Worker, the last one recorded for the direct side)');
  let warm;
  const warmTag = tagOf(0, 'ours', 0);
  for (let k = 0; k < 3; k++) warm = await oursRun(server, model, user, agentId, warmTag);
  const bodies = warm.bodies;
  if (!bodies[0].tools?.length || bodies[1].messages.at(-1)?.role !== 'tool') throw new Error('tools: the recorded calls are not a tool round trip');
  await directRun(model, bodies, warmTag, tagOf(0, 'direct', 0));

  const runs = { direct: [], ours: [] };
  for (let i = 1; i <= rounds; i++) {
    const order = i % 2 ? SIDES : [...SIDES].reverse();
    step(`tools round ${i}/${rounds}: ${shape.runsPerRound} runs of ${order.join(', ')} (interleaved)`);
    await profiled(server.inspectorPort, join(OUT, `tools-${i}.cpuprofile`), async () => {
      for (let j = 0; j < shape.runsPerRound; j++) {
        for (const side of order) {
          const tag = tagOf(i, side, j);
          if (side === 'direct') runs.direct.push({ round: i, ...(await directRun(model, bodies, warmTag, tag)) });
          else {
            const { bodies: _, ...x } = await oursRun(server, model, user, agentId, tag);
            runs.ours.push({ round: i, ...x });
          }
        }
      }
    });
  }

  const byRound = (list) => Array.from({ length: rounds }, (_, k) => round(percentile(list.filter((x) => x.round === k + 1).map((x) => x.totalMs), 50), 1));
  const pick = (list, key) => dist(list.map((x) => x[key]));
  const o = runs.ours;
  const d = runs.direct;
  const direct = { total: pick(d, 'totalMs'), byRound: byRound(d), firstEnd: pick(d, 'firstEndMs'), call1: pick(d, 'call1Ms'), call2: pick(d, 'call2Ms') };
  const ours = {
    total: pick(o, 'totalMs'),
    byRound: byRound(o),
    admitted: pick(o, 'admittedMs'),
    call1: pick(o, 'call1Ms'),
    toolCreated: pick(o, 'toolCreatedMs'),
    toolFinished: pick(o, 'toolFinishedMs'),
    call2: pick(o, 'call2Ms'),
    runFinished: pick(o, 'runFinishedMs'),
    // Per run, then p50: the spans between the steps.
    call1ToCall2: dist(o.map((x) => x.call2Ms - x.call1Ms)),
    toolRun: dist(o.map((x) => x.toolFinishedMs - x.toolCreatedMs)),
    call2ToEnd: dist(o.map((x) => x.wallTotalMs - x.call2Ms)),
  };
  const directSpans = { call1ToCall2: dist(d.map((x) => x.call2Ms - x.call1Ms)), call2ToEnd: dist(d.map((x) => x.wallTotalMs - x.call2Ms)) };
  return {
    shape,
    tasksListed: o[0]?.tasks,
    bodyBytes: bodies.map((b) => JSON.stringify(b).length),
    direct: { ...direct, ...directSpans },
    ours,
    addedMs: round(ours.total.p50Ms - direct.total.p50Ms, 1),
    addedP90Ms: round(ours.total.p90Ms - direct.total.p90Ms, 1),
  };
}
