import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { RateLimiter, WINDOW_MS } from '../src/lib/rate-limiter';
import { call, expectError, newUser, uniqueEmail, withVars } from './helpers';

describe('API rate limit', () => {
  it('carries the headers on every response and answers 429 with Retry-After past the limit', async () => {
    const ip = { 'cf-connecting-ip': `198.51.100.${Math.floor(Math.random() * 250)}` };
    // Stay inside one fixed window: start over if the minute is about to turn.
    const left = WINDOW_MS - (Date.now() % WINDOW_MS);
    if (left < 2000) await new Promise((r) => setTimeout(r, left + 10));
    await withVars({ RATE_LIMIT_PER_MINUTE: '5' }, async () => {
      const seen: string[] = [];
      for (let i = 0; i < 5; i++) {
        const res = await call('GET', '/ping', { headers: ip });
        expect(res.headers.get('x-ratelimit-limit')).toBe('5');
        seen.push(res.headers.get('x-ratelimit-remaining')!);
        expect(Number(res.headers.get('x-ratelimit-reset'))).toBeGreaterThan(0);
      }
      expect(seen).toEqual(['4', '3', '2', '1', '0']);
      const limited = await call('GET', '/ping', { headers: ip });
      expectError(limited, 429, 'Too many requests');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
      expect(limited.headers.get('x-request-id')).toBeTruthy();
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
    expect(seen.remaining).toBeLessThanOrEqual(10 - 5 - 1);
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
