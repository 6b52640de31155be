// Fan-out phase: rounds alternate our Worker (batch=1, then per-message frames), any variants
// (BENCH_VARIANTS) and socket.io; the best round of each side counts.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { runFanout } from './fanout.mjs';
import { oursAdapter } from './fanout-ours.mjs';
import { socketIoAdapter, startSocketIo } from './fanout-socketio.mjs';
import { call, newUser } from './lib/api.mjs';
import { profiled } from './lib/profiler.mjs';
import { workerConfig } from './lib/snapshot.mjs';
import { OUT, applyMigrations, freshState, startDev } from './lib/wrangler.mjs';

const WARMUP_FANOUT = { receivers: 10, senders: 4, perSender: 25 };
const best = (list, key) => list.reduce((a, b) => (b[key] > a[key] ? b : a));
const summary = (list) => ({ ...best(list, 'deliveriesPerSecond'), runs: list.map((x) => x.deliveriesPerSecond) });

/**
 * BENCH_VARIANTS, for A/B runs within one run (the machine is shared, so figures from different
 * runs do not compare): JSON `{"name": {"bundle": "bench/out/bundles/x", "vars": {"K": "v"}}}`.
 * Each variant gets its own `wrangler dev` (a saved bundle and/or extra vars) and batch=1 rounds.
 */
export function parseVariants(text) {
  if (!text) return [];
  return Object.entries(JSON.parse(text)).map(([name, spec]) => ({ name, bundle: spec.bundle, vars: spec.vars ?? {} }));
}

/** Starts one variant's `wrangler dev`; `config` is the current bundle's, used when no bundle is named. */
export async function startVariant(variant, { config, vars, secrets }) {
  const state = freshState(`variant-${variant.name}`);
  const cfg = variant.bundle ? workerConfig(`variant-${variant.name}`, variant.bundle) : config;
  await applyMigrations(state, cfg);
  const server = await startDev({ name: `variant-${variant.name}`, persistTo: state, config: cfg, vars: { ...vars, ...variant.vars }, secrets });
  return { ...variant, server, user: await newUser(server.url) };
}

async function fanoutOn(url, user, batch, shape) {
  const { chat } = await call(url, 'POST', `/chat?workspace_id=${user.workspaceId}`, { token: user.token, body: { title: `bench ${randomUUID()}` } });
  const adapter = oursAdapter({ url, token: user.token, chatId: chat.chat_id, batch });
  const result = await runFanout(adapter, shape);
  const { last_seq } = await call(url, 'GET', `/chat/messages?chat_id=${chat.chat_id}&limit=1`, { token: user.token });
  return { ...result, mode: adapter.frames.messages > 0 ? 'batch=1 (messages frames)' : 'per-message frames', frames: adapter.frames, persisted: last_seq };
}

/**
 * `ours` is { server, user }; `variants` come from startVariant. In each round the batch=1 sides
 * (ours and the variants) run in a rotating order, then ours with per-message frames, then socket.io.
 */
export async function fanoutPhase({ ours, variants = [], rounds, step }) {
  const sio = await startSocketIo();
  try {
    step('fan-out: warm-up of every server');
    await fanoutOn(ours.server.url, ours.user, true, WARMUP_FANOUT);
    for (const v of variants) await fanoutOn(v.server.url, v.user, true, WARMUP_FANOUT);
    await runFanout(socketIoAdapter(sio), WARMUP_FANOUT);
    const batchSides = [
      { name: 'ours', run: (i) => profiled(ours.server.inspectorPort, join(OUT, `fanout-${i}.cpuprofile`), () => fanoutOn(ours.server.url, ours.user, true)) },
      ...variants.map((v) => ({ name: v.name, run: (i) => profiled(v.server.inspectorPort, join(OUT, `fanout-${v.name}-${i}.cpuprofile`), () => fanoutOn(v.server.url, v.user, true)) })),
    ];
    const runs = { ours: [], oursPerMessage: [], socketio: [] };
    const variantRuns = Object.fromEntries(variants.map((v) => [v.name, []]));
    for (let i = 1; i <= rounds; i++) {
      const order = batchSides.map((_, k) => batchSides[(k + i - 1) % batchSides.length]);
      step(`fan-out round ${i}/${rounds}: ${order.map((s) => s.name).join(', ')} (batch=1), ours per-message frames, socket.io`);
      for (const side of order) (side.name === 'ours' ? runs.ours : variantRuns[side.name]).push(await side.run(i));
      runs.oursPerMessage.push(await fanoutOn(ours.server.url, ours.user, false));
      runs.socketio.push(await runFanout(socketIoAdapter(sio)));
    }
    const result = Object.fromEntries(Object.entries(runs).map(([side, list]) => [side, summary(list)]));
    if (variants.length) {
      result.variants = Object.fromEntries(
        variants.map((v) => [v.name, { ...summary(variantRuns[v.name]), bundle: v.bundle ?? 'current', vars: v.vars }]),
      );
    }
    return result;
  } finally {
    await sio.stop();
  }
}
