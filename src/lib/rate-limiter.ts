/**
 * Approximate fixed-window limiter over KV. KV is eventually consistent, caches reads for about
 * 60 s and takes one write a second per key, so each isolate counts in memory and writes a key
 * at most once a second (adding what it counted since its last write to the value it reads).
 * Within one isolate the limit is exact; across isolates a client can exceed it by what the
 * other isolates counted but had not yet written or that KV had not yet propagated (README).
 */
interface Counter {
  /** Count last seen in KV plus what this isolate has written. */
  shared: number;
  /** Counted here since the last write. */
  pending: number;
  lastWrite: number;
  writing: boolean;
}

export interface LimitResult {
  allowed: boolean;
  limit: number;
  remaining: number;
  /** Seconds until the window resets. */
  reset: number;
}

export const WINDOW_MS = 60_000;
export const MIN_WRITE_INTERVAL_MS = 1_000;

export class RateLimiter {
  private counters = new Map<string, Counter>();

  constructor(private readonly kv: KVNamespace) {}

  async hit(key: string, limit: number, now: number, waitUntil: (p: Promise<unknown>) => void): Promise<LimitResult> {
    const window = Math.floor(now / WINDOW_MS);
    const kvKey = `rl:${key}:${window}`;
    let counter = this.counters.get(kvKey);
    if (!counter) {
      this.prune(window);
      const stored = Number(await this.kv.get(kvKey)) || 0;
      counter = this.counters.get(kvKey) ?? { shared: stored, pending: 0, lastWrite: 0, writing: false };
      this.counters.set(kvKey, counter);
    }
    const reset = Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000));
    const used = counter.shared + counter.pending;
    if (used >= limit) return { allowed: false, limit, remaining: 0, reset };
    counter.pending += 1;
    if (!counter.writing && now - counter.lastWrite >= MIN_WRITE_INTERVAL_MS) waitUntil(this.write(kvKey, counter, now));
    return { allowed: true, limit, remaining: Math.max(0, limit - used - 1), reset };
  }

  private async write(kvKey: string, counter: Counter, now: number) {
    counter.writing = true;
    counter.lastWrite = now;
    try {
      const delta = counter.pending;
      const stored = Number(await this.kv.get(kvKey)) || 0;
      const total = Math.max(stored, counter.shared) + delta;
      await this.kv.put(kvKey, String(total), { expirationTtl: 120 });
      counter.shared = total;
      counter.pending -= delta;
    } catch (err) {
      console.error(JSON.stringify({ msg: 'rate limit write failed', error: String(err) }));
    } finally {
      counter.writing = false;
    }
  }

  private prune(currentWindow: number) {
    for (const key of this.counters.keys()) {
      const window = Number(key.slice(key.lastIndexOf(':') + 1));
      if (window < currentWindow) this.counters.delete(key);
    }
  }
}

const limiters = new WeakMap<KVNamespace, RateLimiter>();

/** One limiter per isolate and KV binding. */
export function limiterFor(kv: KVNamespace): RateLimiter {
  let limiter = limiters.get(kv);
  if (!limiter) limiters.set(kv, (limiter = new RateLimiter(kv)));
  return limiter;
}
