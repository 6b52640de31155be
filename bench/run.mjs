// `npm run bench`: every phase in one run, then a table on stdout and bench/RESULTS.md.
// Not part of `npm test` or CI. Child processes are killed on exit or failure (lib/proc.mjs).
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runFanout } from './fanout.mjs';
import { oursAdapter } from './fanout-ours.mjs';
import { socketIoAdapter, startSocketIo } from './fanout-socketio.mjs';
import { explainGrowth, growthUsers, loadGrowth, measureGrowth } from './growth.mjs';
import { measureHttp } from './http.mjs';
import { call, newUser } from './lib/api.mjs';
import { machine } from './lib/machine.mjs';
import { profiled } from './lib/profiler.mjs';
import { snapshotBare, snapshotWorker } from './lib/snapshot.mjs';
import { round } from './lib/stats.mjs';
import { BENCH_VARS, OUT, ROOT, SECRETS, applyMigrations, freshState, startDev } from './lib/wrangler.mjs';
import { renderResults } from './report.mjs';
import { bundleSize, loginTime } from './size.mjs';

const WARMUP_FANOUT = { receivers: 10, senders: 4, perSender: 25 };
const ROUNDS = 3;
const best = (list, key) => list.reduce((a, b) => (b[key] > a[key] ? b : a));
const started = performance.now();
const step = (msg) => console.log(`[bench ${round((performance.now() - started) / 1000, 0)}s] ${msg}`);
const r = { date: new Date().toISOString(), machine: await machine(), fanout: {}, http: {}, growth: {}, size: {} };

step('bundling (wrangler deploy --dry-run --outdir bench/out/bundle)');
const { config, buildLog } = await snapshotWorker();
r.size.bundle = bundleSize(buildLog);

step('local D1 migrations, then wrangler dev for our Worker and the bare Worker');
const state = freshState('main');
await applyMigrations(state, config);
// Tokens from the first session are reused after the restart below, so they must outlive the run.
const vars = { ...BENCH_VARS, ACCESS_TOKEN_TTL_SECONDS: '3600' };
const [ours, bare] = await Promise.all([
  startDev({ name: 'ours', persistTo: state, config, vars, secrets: SECRETS }),
  startDev({ name: 'bare', persistTo: freshState('bare'), config: snapshotBare(), readyPath: '/workspace' }),
]);
let users;
try {
  const user = await newUser(ours.url);
  const newChat = async () =>
    (await call(ours.url, 'POST', `/chat?workspace_id=${user.workspaceId}`, { token: user.token, body: { title: `bench ${randomUUID()}` } })).chat.chat_id;
  const fanoutOurs = async (batch, shape) => {
    const chatId = await newChat();
    const adapter = oursAdapter({ url: ours.url, token: user.token, chatId, batch });
    const result = await runFanout(adapter, shape);
    const { last_seq } = await call(ours.url, 'GET', `/chat/messages?chat_id=${chatId}&limit=1`, { token: user.token });
    return { ...result, mode: adapter.frames.messages > 0 ? 'batch=1 (messages frames)' : 'per-message frames', frames: adapter.frames, persisted: last_seq };
  };

  // Rounds alternate the servers, and the best round of each counts: the machine is shared.
  const sio = await startSocketIo();
  try {
    step('fan-out: warm-up of both servers');
    await fanoutOurs(true, WARMUP_FANOUT);
    await runFanout(socketIoAdapter(sio), WARMUP_FANOUT);
    const runs = { ours: [], oursPerMessage: [], socketio: [] };
    for (let i = 1; i <= ROUNDS; i++) {
      step(`fan-out round ${i}/${ROUNDS}: ours batch=1, ours per-message frames, socket.io`);
      runs.ours.push(await profiled(ours.inspectorPort, join(OUT, `fanout-${i}.cpuprofile`), () => fanoutOurs(true)));
      runs.oursPerMessage.push(await fanoutOurs(false));
      runs.socketio.push(await runFanout(socketIoAdapter(sio)));
    }
    for (const [side, list] of Object.entries(runs)) r.fanout[side] = { ...best(list, 'deliveriesPerSecond'), runs: list.map((x) => x.deliveriesPerSecond) };
  } finally {
    await sio.stop();
  }

  const runsHttp = { ours: [], ping: [], bare: [] };
  for (let i = 1; i <= ROUNDS; i++) {
    step(`HTTP round ${i}/${ROUNDS}: GET /workspace and GET /ping on our Worker, then the bare Worker (autocannon)`);
    runsHttp.ours.push(
      await profiled(ours.inspectorPort, join(OUT, `http-${i}.cpuprofile`), () =>
        measureHttp(`${ours.url}/workspace`, { authorization: `Bearer ${user.token}` }),
      ),
    );
    runsHttp.ping.push(await measureHttp(`${ours.url}/ping`));
    runsHttp.bare.push(await measureHttp(`${bare.url}/workspace`));
  }
  for (const [side, list] of Object.entries(runsHttp)) r.http[side] = { ...best(list, 'requestsPerSecond'), runs: list.map((x) => x.requestsPerSecond) };

  step('login with the bench KDF (N=1024, r=1, p=1)');
  r.size.loginBenchKdf = await loginTime(ours.url);
  users = await growthUsers(ours.url);
} finally {
  await Promise.all([ours.stop(), bare.stop()]);
}

step(`growth: loading ${users.map((u) => u.size).join(' and ')} tasks and chats with SQL`);
r.growth.loadSeconds = await loadGrowth(state, config, users);

step('growth: list endpoints, and login with the production KDF (wrangler.toml defaults)');
const { PASSWORD_SCRYPT_N, PASSWORD_SCRYPT_R, PASSWORD_SCRYPT_P, ...prodKdfVars } = vars;
const second = await startDev({ name: 'ours-growth', persistTo: state, config, vars: prodKdfVars, secrets: SECRETS });
try {
  r.growth.p50 = await measureGrowth(second.url, users);
  r.size.loginProdKdf = await loginTime(second.url);
} finally {
  await second.stop();
}
r.growth.plans = await explainGrowth(state, config, users.at(-1));

r.durationSeconds = round((performance.now() - started) / 1000, 0);
r.machine.loadAverageEnd = (await machine()).loadAverageStart;
const markdown = renderResults(r);
// A profiled run's figures are slowed by the profiler: they never replace RESULTS.md.
const resultsFile = process.env.BENCH_PROFILE ? join(OUT, 'RESULTS-profiled.md') : join(ROOT, 'bench/RESULTS.md');
writeFileSync(resultsFile, markdown);
writeFileSync(join(ROOT, 'bench/out/results.json'), JSON.stringify(r, null, 2));
console.log(`\n${markdown}`);
step(`wrote ${resultsFile}`);
