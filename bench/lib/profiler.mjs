// Opt-in (BENCH_PROFILE=1): a CPU profile of the Worker while a phase runs, through the
// inspector port `wrangler dev` exposes. Profiling slows the Worker: such a run's figures are
// for finding the hot path, not for RESULTS.md comparisons.
import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

async function session(inspectorPort) {
  const [target] = await (await fetch(`http://127.0.0.1:${inspectorPort}/json`)).json();
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let id = 0;
  const pending = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString());
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  const send = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return { send, close: () => ws.close() };
}

/** Self time (ms) by function, heaviest first. */
function selfTimes(profile, top) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFn = new Map();
  profile.samples.forEach((nodeId, i) => {
    const { functionName, url, lineNumber } = nodes.get(nodeId).callFrame;
    const key = `${functionName || '(anonymous)'} ${url ? `${url.split('/').pop()}:${lineNumber + 1}` : ''}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top).map(([fn, ms]) => ({ fn, ms: Math.round(ms) }));
}

/** Runs `fn` under the profiler unless BENCH_PROFILE is unset; writes bench/out/<name>.cpuprofile. */
export async function profiled(inspectorPort, file, fn) {
  if (!process.env.BENCH_PROFILE) return fn();
  const s = await session(inspectorPort);
  await s.send('Profiler.enable');
  await s.send('Profiler.start');
  try {
    return await fn();
  } finally {
    const { result } = await s.send('Profiler.stop');
    s.close();
    writeFileSync(file, JSON.stringify(result.profile));
    console.log(`CPU profile: ${file}; top self times (ms):`);
    console.table(selfTimes(result.profile, 25));
  }
}
