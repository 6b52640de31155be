// `npm run bench`: every phase in one run, then a table on stdout and bench/RESULTS.md.
// Not part of `npm test` or CI. Child processes are killed on exit or failure (scripts/lib/proc.mjs).
// BENCH_PHASES=fanout (or any comma list of fanout, http, growth, size, agents, tools) runs only those phases
// and writes bench/out/RESULTS-<phases>.md instead of RESULTS.md; see bench/README.md for
// BENCH_ROUNDS, BENCH_VARIANTS and BENCH_SAVE_BUNDLE.
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentsPhase, startModelServer } from './agents.mjs';
import { fanoutPhase, parseVariants, startCounterpart, startVariant } from './fanout-phase.mjs';
import { explainGrowth, growthUsers, loadGrowth, measureGrowth } from './growth.mjs';
import { measureHttp } from './http.mjs';
import { newUser } from './lib/api.mjs';
import { machine } from './lib/machine.mjs';
import { profiled } from './lib/profiler.mjs';
import { BUNDLE_DIR, snapshotBare, snapshotWorker } from './lib/snapshot.mjs';
import { round } from './lib/stats.mjs';
import { BENCH_VARS, OUT, ROOT, SECRETS, applyMigrations, freshState, startDev } from './lib/wrangler.mjs';
import { PHASES, renderResults } from './report.mjs';
import { bundleSize, loginTime } from './size.mjs';
import { toolsPhase } from './tools.mjs';

const phases = new Set((process.env.BENCH_PHASES || PHASES.join(',')).split(',').map((p) => p.trim()).filter(Boolean));
for (const p of phases) if (!PHASES.includes(p)) throw new Error(`BENCH_PHASES: unknown phase ${p} (known: ${PHASES.join(', ')})`);
const all = PHASES.every((p) => phases.has(p));
const ROUNDS = Number(process.env.BENCH_ROUNDS || 3);
const variants = parseVariants(process.env.BENCH_VARIANTS);
const best = (list, key) => list.reduce((a, b) => (b[key] > a[key] ? b : a));
const started = performance.now();
const step = (msg) => console.log(`[bench ${round((performance.now() - started) / 1000, 0)}s] ${msg}`);
const r = { date: new Date().toISOString(), phases: [...phases], machine: await machine(), fanout: {}, http: {}, growth: {}, size: {}, agents: {}, tools: {} };

step('bundling (wrangler deploy --dry-run --outdir bench/out/bundle)');
const { config, buildLog } = await snapshotWorker();
if (process.env.BENCH_SAVE_BUNDLE) {
  // Kept for later runs' BENCH_VARIANTS (an A/B against this build).
  const saved = join(OUT, 'bundles', process.env.BENCH_SAVE_BUNDLE);
  rmSync(saved, { recursive: true, force: true });
  mkdirSync(saved, { recursive: true });
  cpSync(BUNDLE_DIR, saved, { recursive: true });
  step(`saved the bundle as ${saved}`);
}
const bundle = bundleSize(buildLog);
if (phases.has('size')) r.size.bundle = bundle;
if (phases.has('agents')) r.agents.bundle = bundle;

step('local D1 migrations, then wrangler dev for our Worker (and the bare Worker for http, the compression counterpart for fan-out, the model server for agents and tools, and any variants)');
const state = freshState('main');
await applyMigrations(state, config);
// Tokens from the first session are reused after the restart below, so they must outlive the run.
const vars = { ...BENCH_VARS, ACCESS_TOKEN_TTL_SECONDS: '3600' };
const servers = [];
let users;
let model = null;
try {
  // The agents and tools phases' model endpoint (test/model-server/server.mjs, its own process); only our
  // Worker is told about it.
  if (phases.has('agents') || phases.has('tools')) model = await startModelServer();
  const oursVars = model ? { ...vars, LLM_BASE_URL: model.baseUrl } : vars;
  const oursStarting = startDev({ name: 'ours', persistTo: state, config, vars: oursVars, secrets: SECRETS });
  // The compression counterpart (fan-out): this build with no_web_socket_compression toggled.
  const counterpartStarting = phases.has('fanout') ? startCounterpart({ vars, secrets: SECRETS }) : null;
  const bareStarting = phases.has('http')
    ? startDev({ name: 'bare', persistTo: freshState('bare'), config: snapshotBare(), readyPath: '/workspace' })
    : null;
  const ours = await oursStarting;
  servers.push(ours);
  const bare = await bareStarting;
  if (bare) servers.push(bare);
  const counterpart = await counterpartStarting;
  if (counterpart) servers.push(counterpart.server);
  const user = await newUser(ours.url);

  if (phases.has('fanout')) {
    const running = [];
    for (const v of variants) {
      const sv = await startVariant(v, { config, vars, secrets: SECRETS });
      servers.push(sv.server);
      running.push(sv);
    }
    r.fanout = await fanoutPhase({ ours: { server: ours, user }, counterpart, variants: running, rounds: ROUNDS, step });
  }

  if (phases.has('http')) {
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
  }

  if (phases.has('agents')) {
    r.agents = { ...r.agents, ...(await agentsPhase({ server: ours, user, model, rounds: ROUNDS, step })) };
  }

  if (phases.has('tools')) r.tools = await toolsPhase({ server: ours, user, model, rounds: ROUNDS, step });

  if (phases.has('size')) {
    step('login with the bench KDF (N=1024, r=1, p=1)');
    r.size.loginBenchKdf = await loginTime(ours.url);
  }
  if (phases.has('growth')) users = await growthUsers(ours.url);
} finally {
  await Promise.all([...servers.map((s) => s.stop()), model?.stop()]);
}

if (phases.has('growth')) {
  step(`growth: loading ${users.map((u) => u.size).join(' and ')} tasks and chats with SQL`);
  r.growth.loadSeconds = await loadGrowth(state, config, users);
}

if (phases.has('growth') || phases.has('size')) {
  step('growth: list endpoints, and login with the production KDF (wrangler.toml defaults)');
  const { PASSWORD_SCRYPT_N, PASSWORD_SCRYPT_R, PASSWORD_SCRYPT_P, ...prodKdfVars } = vars;
  const second = await startDev({ name: 'ours-growth', persistTo: state, config, vars: prodKdfVars, secrets: SECRETS });
  try {
    if (phases.has('growth')) r.growth.p50 = await measureGrowth(second.url, users);
    if (phases.has('size')) r.size.loginProdKdf = await loginTime(second.url);
  } finally {
    await second.stop();
  }
  if (phases.has('growth')) r.growth.plans = await explainGrowth(state, config, users.at(-1));
}

r.durationSeconds = round((performance.now() - started) / 1000, 0);
r.machine.loadAverageEnd = (await machine()).loadAverageStart;
const markdown = renderResults(r);
// A profiled or partial run's figures never replace RESULTS.md (profiling slows the Worker).
const suffix = all ? '' : `-${[...phases].join('-')}`;
const resultsFile = process.env.BENCH_PROFILE
  ? join(OUT, `RESULTS-profiled${suffix}.md`)
  : all
    ? join(ROOT, 'bench/RESULTS.md')
    : join(OUT, `RESULTS${suffix}.md`);
writeFileSync(resultsFile, markdown);
writeFileSync(join(OUT, `results${suffix}.json`), JSON.stringify(r, null, 2));
console.log(`\n${markdown}`);
step(`wrote ${resultsFile}`);
