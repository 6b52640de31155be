// HTTP phase: the same autocannon load against an authenticated GET /workspace and the bare
// Worker, both under `wrangler dev` (so both go through wrangler's proxy), after a warm-up each.
import autocannon from 'autocannon';

export const HTTP = { connections: 50, seconds: 10, warmupSeconds: 3 };

function load(url, headers, duration, connections) {
  return new Promise((resolve, reject) => {
    autocannon({ url, headers, duration, connections }, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Warm-up, then the measured run; requests/s is over 2xx answers only. */
export async function measureHttp(url, headers = {}, { connections, seconds, warmupSeconds } = HTTP) {
  await load(url, headers, warmupSeconds, connections);
  const r = await load(url, headers, seconds, connections);
  return {
    requestsPerSecond: Math.round(r['2xx'] / r.duration),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx + r.errors + r.timeouts,
  };
}
