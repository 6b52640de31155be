import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SCRYPT_MAX_MEMORY_BYTES, hashPassword, scryptMemory, verifyPassword } from '../src/auth/password';
import { config } from '../src/lib/config';
import { call, newUser, withVars } from './helpers';

describe('password KDF', () => {
  it('runs in production Workers with the deployed defaults: scrypt memory well inside 128 MB', () => {
    const prod = config({ ...env.PRODUCTION_VARS, JWT_SECRET: env.JWT_SECRET, LINK_SECRET: env.LINK_SECRET } as unknown as Env).scrypt;
    expect(prod).toEqual({ N: 16384, r: 8, p: 5 }); // OWASP's scrypt recommendation
    expect(Number.isInteger(Math.log2(prod.N))).toBe(true);
    expect(scryptMemory(prod)).toBeLessThanOrEqual(SCRYPT_MAX_MEMORY_BYTES);
    // The code's own fallbacks (an unset var) are the same production values.
    expect(config({ JWT_SECRET: env.JWT_SECRET, LINK_SECRET: env.LINK_SECRET } as Env).scrypt).toEqual(prod);
  });

  it('hashes with the production parameters in this runtime', async () => {
    const prod = config({ ...env.PRODUCTION_VARS, JWT_SECRET: env.JWT_SECRET, LINK_SECRET: env.LINK_SECRET } as unknown as Env).scrypt;
    const hash = await hashPassword('correct horse', prod);
    expect(hash).toMatch(/^\$scrypt\$v=1\$n=16384,r=8,p=5\$/);
    expect((await verifyPassword('correct horse', hash, prod)).ok).toBe(true);
    expect((await verifyPassword('wrong horse', hash, prod)).ok).toBe(false);
  });

  it('salts every hash and refuses a malformed stored value', async () => {
    const p = { N: 1024, r: 1, p: 1 };
    expect(await hashPassword('same', p)).not.toBe(await hashPassword('same', p));
    expect(await verifyPassword('same', 'plaintext', p)).toEqual({ ok: false, rehash: false });
  });

  it('re-hashes an old-cost hash on the next successful login', async () => {
    const u = await newUser();
    const stored = async () =>
      (await env.DB.prepare('SELECT password_hash FROM users WHERE id = ?').bind(u.userId).first<{ password_hash: string }>())!.password_hash;
    expect(await stored()).toContain('$n=1024,r=1,p=1$');
    await withVars({ PASSWORD_SCRYPT_N: '2048', PASSWORD_SCRYPT_R: '2' }, async () => {
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: 'wrong password' } })).status).toBe(401);
      expect(await stored()).toContain('$n=1024,r=1,p=1$');
      expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(200);
      expect(await stored()).toContain('$n=2048,r=2,p=1$');
    });
    // The old parameters still verify the upgraded hash's password through its own header.
    expect((await call('POST', '/auth/login', { body: { email: u.email, password: u.password } })).status).toBe(200);
  });
});
