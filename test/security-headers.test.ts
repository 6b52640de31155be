import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { BASE, call, newUser } from './helpers';
import { publish, uniqueName } from './packages-fixtures';

describe('security headers', () => {
  it('a package archive download is nosniff and sandboxed', async () => {
    const u = await newUser();
    const name = uniqueName();
    await publish(u.token, name, '1.0.0');
    const res = await call('GET', `/agent/packages/${name}/1.0.0/archive`, { token: u.token });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox");
  });

  it("/docs keeps its CSP, adds frame-ancestors 'none', nosniff and no-referrer", async () => {
    const res = await call('GET', '/docs');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-eval');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  // The test pool does not route requests to static assets (exports.default.fetch reaches the
  // Worker only), so this asks the ASSETS binding, which applies public/_headers as production does.
  for (const path of ['/', '/index.html', '/chat.js', '/style.css']) {
    it(`the chat page's ${path} carries its CSP, nosniff and no-referrer (public/_headers)`, async () => {
      const res = await env.ASSETS.fetch(new Request(BASE + path));
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    });
  }
});
