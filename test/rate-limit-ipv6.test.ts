import { describe, expect, it } from 'vitest';
import { clientKey } from '../src/lib/client-address';
import { WINDOW_MS } from '../src/lib/rate-limiter';
import { call, expectError, withVars } from './helpers';

describe('the anonymous rate-limit key', () => {
  it('is the /64 for IPv6, in every spelling, and the address for IPv4', () => {
    const full = clientKey('2001:0db8:0000:0001:aaaa:bbbb:cccc:dddd');
    expect(full).toBe('ip6:2001:db8:0:1::/64');
    for (const same of ['2001:db8:0:1::1', '2001:DB8::1:0:0:0:2', '[2001:db8:0:1::ffff]', '2001:db8:0:1::5%eth0', '2001:db8:0:1:1:2:1.2.3.4']) {
      expect(clientKey(same), same).toBe(full);
    }
    expect(clientKey('2001:db8:0:2::1')).not.toBe(full);
    expect(clientKey('::1')).toBe('ip6:0:0:0:0::/64');
    expect(clientKey('198.51.100.7')).toBe('ip:198.51.100.7');
    expect(clientKey('198.51.100.8')).not.toBe(clientKey('198.51.100.7'));
    expect(clientKey('::ffff:198.51.100.7')).toBe('ip:198.51.100.7');
    expect(clientKey(undefined)).toBe('ip:unknown');
    expect(clientKey('not:an::address::at:all')).toBe('ip:not:an::address::at:all');
  });
});

describe('anonymous requests from IPv6', () => {
  it('two addresses in one /64 share a bucket; another /64 has its own', async () => {
    const left = WINDOW_MS - (Date.now() % WINDOW_MS);
    if (left < 2000) await new Promise((r) => setTimeout(r, left + 10));
    const net = Math.floor(Math.random() * 0xffff).toString(16);
    const ping = (ip: string) => call('GET', '/ping', { headers: { 'cf-connecting-ip': ip } });
    await withVars({ RATE_LIMIT_PER_MINUTE: '3' }, async () => {
      expect((await ping(`2001:db8:${net}:1::1`)).status).toBe(200);
      expect((await ping(`2001:db8:${net}:1:ffff:1:2:3`)).status).toBe(200);
      expect((await ping(`2001:0db8:${net}:0001:0:0:0:9`)).status).toBe(200);
      expectError(await ping(`2001:db8:${net}:1::abcd`), 429, 'Too many requests');
      const other = await ping(`2001:db8:${net}:2::1`);
      expect(other.status).toBe(200);
      expect(other.headers.get('x-ratelimit-remaining')).toBe('2');
    });
  });
});
