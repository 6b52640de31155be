// Fan-out phase: rounds alternate our Worker (batch=1 and per-message frames, each with and
// without permessage-deflate offered, through wrangler's proxy and on the Worker's own port), the
// compression counterpart (no_web_socket_compression toggled), any variants (BENCH_VARIANTS) and
// socket.io (with and without compression); the best round of each side counts, and each round
// records the CPU time of the processes involved.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { runFanout } from './fanout.mjs';
import { oursAdapter } from './fanout-ours.mjs';
import { socketIoAdapter, startSocketIo } from './fanout-socketio.mjs';
import { call, newUser } from './lib/api.mjs';
import { profiled } from './lib/profiler.mjs';
import { cpuSampler } from './lib/procs.mjs';
import { BUNDLE_DIR, configFlags, workerConfig } from './lib/snapshot.mjs';
import { OUT, applyMigrations, freshState, startDev } from './lib/wrangler.mjs';

const WARMUP_FANOUT = { receivers: 10, senders: 4, perSender: 25 };
// The compression sides (the Worker's own port, the counterpart) run in the first this-many rounds
// only, to keep the whole run within ~6 minutes; the main sides run in every round.
const COMPRESSION_ROUNDS = Number(process.env.BENCH_COMPRESSION_ROUNDS || 1);
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

/** The pids whose CPU time a side's rounds record: our Worker's processes, or the socket.io server. */
const devPids = (server) => (server.procs ? { worker: server.procs.worker, proxy: server.procs.proxy, wrangler: server.procs.wrangler } : {});

/**
 * One fan-out against our Worker. `server` is a startDev result; `direct` connects to the Worker's
 * own port (server.procs.directUrl), bypassing wrangler's proxy; `deflate` offers permessage-deflate.
 */
async function fanoutOn(server, user, batch, { shape, deflate = false, direct = false } = {}) {
  const url = direct ? server.procs.directUrl : server.url;
  const { chat } = await call(url, 'POST', `/chat?workspace_id=${user.workspaceId}`, { token: user.token, body: { title: `bench ${randomUUID()}` } });
  const adapter = oursAdapter({ url, token: user.token, chatId: chat.chat_id, batch, deflate });
  const result = await runFanout(adapter, shape, { cpu: () => cpuSampler(devPids(server)) });
  const { last_seq } = await call(url, 'GET', `/chat/messages?chat_id=${chat.chat_id}&limit=1`, { token: user.token });
  return {
    ...result,
    mode: adapter.frames.messages > 0 ? 'batch=1 (messages frames)' : 'per-message frames',
    frames: adapter.frames,
    extensions: [...adapter.extensions].join(', '),
    persisted: last_seq,
  };
}

const NO_COMPRESSION = 'no_web_socket_compression';

/**
 * The sides of the fan-out phase, in the order each round runs them. `main` sides go through
 * `wrangler dev`'s proxy (as a browser in development would); `compression` sides pair the
 * Worker's own port with the proxy, and our config with its counterpart (the other setting of
 * no_web_socket_compression), all with permessage-deflate offered.
 */
function sides({ ours, counterpart, sio, sioDeflate }) {
  const oursFlagged = configHas(ours.flags);
  const label = (flags) => (configHas(flags) ? NO_COMPRESSION : `without ${NO_COMPRESSION}`);
  const on = (srv, name, batch, opts) => (i) =>
    profiled(srv.server.inspectorPort, join(OUT, `fanout-${name}-${i}.cpuprofile`), () => fanoutOn(srv.server, srv.user, batch, opts));
  const sioRun = (s) => () => runFanout(socketIoAdapter(s), undefined, { cpu: () => cpuSampler({ server: s.pid }) });
  const list = [
    { key: 'ours', group: 'main', run: on(ours, 'batch', true) },
    { key: 'oursDeflate', group: 'main', run: on(ours, 'batch-deflate', true, { deflate: true }) },
    { key: 'oursPerMessage', group: 'main', run: on(ours, 'per', false) },
    { key: 'oursPerMessageDeflate', group: 'main', run: on(ours, 'per-deflate', false, { deflate: true }) },
    { key: 'socketio', group: 'main', run: sioRun(sio) },
    { key: 'socketioDeflate', group: 'main', run: sioRun(sioDeflate) },
  ];
  // Compression attribution: path x config x mode x offer.
  for (const [srv, cfg] of [[ours, 'config'], [counterpart, 'counterpart']]) {
    for (const direct of [false, true]) {
      for (const batch of [true, false]) {
        for (const deflate of [false, true]) {
          // Ours through the proxy is measured by the main sides already; the counterpart without
          // deflate offered is the same server code path as ours without it.
          if (cfg === 'config' && !direct) continue;
          if (cfg === 'counterpart' && !deflate) continue;
          const key = `${cfg}-${direct ? 'direct' : 'proxy'}-${batch ? 'batch' : 'per'}-${deflate ? 'deflate' : 'plain'}`;
          list.push({
            key,
            group: 'compression',
            config: label(srv.flags),
            path: direct ? 'direct' : 'proxy',
            batch,
            deflate,
            run: on(srv, key, batch, { deflate, direct }),
          });
        }
      }
    }
  }
  for (const s of list.filter((x) => x.group === 'main' && x.key.startsWith('ours'))) {
    Object.assign(s, { config: label(ours.flags), path: 'proxy', batch: !s.key.includes('PerMessage'), deflate: s.key.endsWith('Deflate') });
  }
  return { list, oursFlagged };
}

const configHas = (flags) => flags.includes(NO_COMPRESSION);

/** wrangler.toml's flags with no_web_socket_compression toggled: the compression counterpart's config. */
export function counterpartFlags() {
  const flags = configFlags();
  return configHas(flags) ? flags.filter((f) => f !== NO_COMPRESSION) : [...flags, NO_COMPRESSION];
}

/** Starts the compression counterpart: this build with wrangler.toml's no_web_socket_compression toggled. */
export async function startCounterpart({ vars, secrets }) {
  const flags = counterpartFlags();
  const state = freshState('counterpart');
  const cfg = workerConfig('counterpart', BUNDLE_DIR, { flags });
  await applyMigrations(state, cfg);
  const server = await startDev({ name: 'counterpart', persistTo: state, config: cfg, vars, secrets });
  return { server, user: await newUser(server.url), flags };
}

/**
 * `ours` is { server, user }; `counterpart` comes from startCounterpart; `variants` from
 * startVariant. Each round runs the batch=1 sides of ours and the variants in a rotating order,
 * then every other side (fanout sides()).
 */
export async function fanoutPhase({ ours, counterpart, variants = [], rounds, step }) {
  for (const s of [ours.server, counterpart.server]) {
    if (!s.procs) throw new Error('fan-out: the processes of wrangler dev were not found (Linux /proc needed)');
  }
  const sio = await startSocketIo();
  const sioDeflate = await startSocketIo({ compress: true });
  try {
    step('fan-out: warm-up of every server (and the Worker\'s own ports)');
    const warm = { shape: WARMUP_FANOUT };
    await fanoutOn(ours.server, ours.user, true, warm);
    await fanoutOn(ours.server, ours.user, true, { ...warm, direct: true, deflate: true });
    await fanoutOn(counterpart.server, counterpart.user, true, { ...warm, deflate: true });
    await fanoutOn(counterpart.server, counterpart.user, true, { ...warm, direct: true, deflate: true });
    for (const v of variants) await fanoutOn(v.server, v.user, true, warm);
    await runFanout(socketIoAdapter(sio), WARMUP_FANOUT);
    await runFanout(socketIoAdapter(sioDeflate), WARMUP_FANOUT);
    const { list } = sides({ ours: { ...ours, flags: configFlags() }, counterpart, sio, sioDeflate });
    const batchSides = [
      list[0],
      ...variants.map((v) => ({ key: v.name, run: (i) => profiled(v.server.inspectorPort, join(OUT, `fanout-${v.name}-${i}.cpuprofile`), () => fanoutOn(v.server, v.user, true)) })),
    ];
    const rest = list.slice(1);
    const runs = Object.fromEntries([...list, ...batchSides].map((s) => [s.key, []]));
    for (let i = 1; i <= rounds; i++) {
      const order = batchSides.map((_, k) => batchSides[(k + i - 1) % batchSides.length]);
      const more = rest.filter((s) => s.group === 'main' || i <= COMPRESSION_ROUNDS);
      step(`fan-out round ${i}/${rounds}: ${order.map((s) => s.key).join(', ')} (batch=1), then ${more.length} more sides (deflate offered or not${i <= COMPRESSION_ROUNDS ? ", the Worker's own port, the counterpart" : ''}, socket.io)`);
      for (const side of [...order, ...more]) {
        const res = await side.run(i);
        runs[side.key].push(res);
        console.log(`  ${side.key}: ${res.deliveriesPerSecond} msgs/s${res.extensions ? ` (${res.extensions})` : ''}`);
      }
    }
    const result = {};
    for (const s of list) {
      const { run, key, group, ...about } = s;
      const sum = summary(runs[key]);
      result[key] = group === 'main' ? { ...sum, ...about } : sum;
      if (group === 'compression') (result.compression ??= {})[key] = { ...sum, ...about };
    }
    result.counterpartFlags = counterpart.flags;
    result.configFlags = configFlags();
    if (variants.length) {
      result.variants = Object.fromEntries(
        variants.map((v) => [v.name, { ...summary(runs[v.name]), bundle: v.bundle ?? 'current', vars: v.vars }]),
      );
    }
    return result;
  } finally {
    await sio.stop();
    await sioDeflate.stop();
  }
}
