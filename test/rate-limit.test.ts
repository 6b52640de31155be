import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { RateLimiter, WINDOW_MS } from '../src/lib/rate-limiter';
import { call, expectError, newUser, uniqueEmail, withVars } from './helpers';

describe('API rate limit', () => {
  afterEach(() => vi.useRealTimers());

  it('carries the headers on every response and answers 429 with Retry-After past the limit', async () => {
    const ip = { 'cf-connecting-ip': '198.51.100.17' };
    // The Worker runs in this isolate, so a faked Date is its clock too: a window of our own,
    // 42.3 s in (17.7 s left, reported as 18).
    vi.useFakeTimers({ toFake: ['Date'] });
    const windowStart = Date.UTC(2031, 0, 1, 0, 0, 0);
    vi.setSystemTime(windowStart + 42_300);
    await withVars({ RATE_LIMIT_PER_MINUTE: '5' }, async () => {
      const seen: string[][] = [];
      for (let i = 0; i < 5; i++) {
        const res = await call('GET', '/ping', { headers: ip });
        seen.push(['limit', 'remaining', 'reset'].map((h) => res.headers.get(`x-ratelimit-${h}`)!));
      }
      expect(seen).toEqual([4, 3, 2, 1, 0].map((n) => ['5', String(n), '18']));
      vi.setSystemTime(windowStart + 45_250);
      const limited = await call('GET', '/ping', { headers: ip });
      expectError(limited, 429, 'Too many requests');
      expect(limited.json.code).toBe('rate_limited');
      expect(limited.headers.get('x-ratelimit-reset')).toBe('15');
      expect(limited.headers.get('retry-after')).toBe('15');
      expect(limited.json.retry_after).toBe(15);
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(limited.headers.get('x-request-id')).toBeTruthy();
      // The next window starts over with a full budget and a full minute.
      vi.setSystemTime(windowStart + WINDOW_MS);
      const next = await call('GET', '/ping', { headers: ip });
      expect(next.status).toBe(200);
      expect([next.headers.get('x-ratelimit-remaining'), next.headers.get('x-ratelimit-reset')]).toEqual(['4', '60']);
    });
  });

  it('counts per user when signed in, apart from the client address', async () => {
    const u = await newUser();
    const ip = { 'cf-connecting-ip': '203.0.113.77' };
    await withVars({ RATE_LIMIT_PER_MINUTE: '3' }, async () => {
      for (let i = 0; i < 3; i++) await call('GET', '/user', { token: u.token, headers: ip });
      expectError(await call('GET', '/user', { token: u.token, headers: ip }), 429, 'Too many requests');
      // Another user from the same address has their own budget.
      const other = await withVars({ RATE_LIMIT_PER_MINUTE: '1000' }, () => newUser());
      expect((await call('GET', '/user', { token: other.token, headers: ip })).status).toBe(200);
    });
  });
});

describe('RateLimiter over KV', () => {
  /** Counts KV writes while passing every call through to the real binding. */
  function countingKv() {
    const kv = env.RATE_LIMITS;
    let puts = 0;
    const wrapped = new Proxy(kv, {
      get(target, prop) {
        if (prop === 'put') return (...args: Parameters<KVNamespace['put']>) => (puts++, target.put(...args));
        const value = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    return { kv: wrapped, puts: () => puts };
  }

  it('writes a key at most once a second however many requests arrive (KV takes 1 write/s per key)', async () => {
    const { kv, puts } = countingKv();
    const limiter = new RateLimiter(kv);
    const pending: Promise<unknown>[] = [];
    const start = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 1000;
    // 200 requests spread over 2.5 simulated seconds.
    for (let i = 0; i < 200; i++) await limiter.hit('burst', 1000, start + i * 12.5, (p) => pending.push(p));
    await Promise.all(pending);
    expect(puts()).toBeGreaterThanOrEqual(1);
    expect(puts()).toBeLessThanOrEqual(3);
  });

  it('is exact within an isolate and shares its count through KV with a fresh isolate', async () => {
    const key = `share-${Math.random()}`;
    const pending: Promise<unknown>[] = [];
    const now = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS + 500;
    const a = new RateLimiter(env.RATE_LIMITS);
    for (let i = 0; i < 4; i++) expect((await a.hit(key, 4, now, (p) => pending.push(p))).allowed).toBe(true);
    expect((await a.hit(key, 4, now, (p) => pending.push(p))).allowed).toBe(false);
    await Promise.all(pending);
    // Flush what is left after the write interval, as a later request would.
    await a.hit(key, 100, now + 1500, (p) => pending.push(p));
    await Promise.all(pending);
    const b = new RateLimiter(env.RATE_LIMITS);
    const seen = await b.hit(key, 10, now + 2000, () => {});
    // 4 allowed + 1 flushing hit were written (the refused one is not counted): 10 - 5 - 1 left.
    expect(seen.remaining).toBe(4);
  });

  it('reports the exact remaining count and seconds left in the window', async () => {
    const limiter = new RateLimiter(env.RATE_LIMITS);
    const key = `exact-${Math.random()}`;
    const start = Math.floor(Date.now() / WINDOW_MS) * WINDOW_MS;
    const pending: Promise<unknown>[] = [];
    const hit = async (offset: number) => {
      const r = await limiter.hit(key, 3, start + offset, (p) => pending.push(p));
      return [r.allowed, r.remaining, r.reset];
    };
    expect(await hit(0)).toEqual([true, 2, 60]);
    expect(await hit(500)).toEqual([true, 1, 60]); // 59.5 s left rounds up
    expect(await hit(30_000)).toEqual([true, 0, 30]);
    expect(await hit(45_250)).toEqual([false, 0, 15]);
    expect(await hit(59_999)).toEqual([false, 0, 1]);
    // The next window: a fresh count.
    expect(await hit(WINDOW_MS)).toEqual([true, 2, 60]);
    await Promise.all(pending);
  });
});

describe('failed-login limit', () => {
  it('is exact under concurrent attempts, holds for the right password, and counts unknown emails', async () => {
    const u = await newUser();
    await withVars({ LOGIN_MAX_FAILURES: '5' }, async () => {
      const attempts = await Promise.all(
        Array.from({ length: 12 }, () => call('POST', '/auth/login', { body: { email: u.email, password: 'wrong password' } })),
      );
      const statuses = attempts.map((a) => a.status).sort();
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(7);
      const blocked = await call('POST', '/auth/login', { body: { email: u.email.toUpperCase(), password: u.password } });
      expectError(blocked, 429, 'Too many requests');
      const retry = Number(blocked.headers.get('retry-after'));
      expect(retry).toBeGreaterThan(800);
      expect(retry).toBeLessThanOrEqual(900);

      const ghost = uniqueEmail('ghost');
      for (let i = 0; i < 5; i++) expect((await call('POST', '/auth/login', { body: { email: ghost, password: 'x' } })).status).toBe(404);
      expectError(await call('POST', '/auth/login', { body: { email: ghost, password: 'x' } }), 429, 'Too many requests');
    });
  });

  it('is reset by a successful login', async () => {
    const u = await newUser();
    await withVars({ LOGIN_MAX_FAILURES: '3' }, async () => {
      for (let i = 0; i < 2; i++) await call('POST', '/auth/login', { body: { email: u.email, password: 'nope nope' } });
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await call('POST', '/auth/login', { body: { email: u.email, password: 'nope nope' } })).status).toBe(401);
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(429);
    });
  });

  it('opens again once the window has passed', async () => {
    const u = await newUser();
    await withVars({ LOGIN_MAX_FAILURES: '1' }, async () => {
      await call('POST', '/auth/login', { body: { email: u.email, password: 'nope nope' } });
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(429);
      await env.DB.prepare('UPDATE login_attempts SET window_started_at = window_started_at - 901000 WHERE email = ?').bind(u.email).run();
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(200);
    });
  });
});
