import { env } from 'cloudflare:workers';
import { SignJWT, UnsecuredJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser } from './helpers';

const key = () => new TextEncoder().encode(env.JWT_SECRET);

async function token(claims: Record<string, unknown>, opts: { secret?: Uint8Array; typ?: string; alg?: string; exp?: number | string } = {}) {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: opts.alg ?? 'HS256', typ: opts.typ ?? 'at+jwt' })
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '15m')
    .sign(opts.secret ?? key());
}

describe('access tokens on a protected route', () => {
  it('needs the Authorization header', async () => {
    expectError(await call('GET', '/user'), 401, 'Missing Authorization Header');
  });

  it('rejects a header that is not a bearer token', async () => {
    expectError(await call('GET', '/user', { headers: { authorization: 'Basic abc' } }), 401, 'Invalid token');
    expectError(await call('GET', '/user', { headers: { authorization: 'Bearer' } }), 401, 'Invalid token');
    expectError(await call('GET', '/user', { token: 'not.a.jwt' }), 401, 'Invalid token');
  });

  it('rejects a token signed with another secret (forged)', async () => {
    const u = await newUser();
    const [, payload] = u.token.split('.');
    const claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/')));
    const forged = await token(claims, { secret: new TextEncoder().encode('attacker secret') });
    expectError(await call('GET', '/user', { token: forged }), 401, 'Invalid token');
  });

  it('rejects alg: none', async () => {
    const u = await newUser();
    const claims = JSON.parse(atob(u.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    const none = new UnsecuredJWT(claims).encode();
    expectError(await call('GET', '/user', { token: none }), 401, 'Invalid token');
  });

  it('rejects a wrong audience, a wrong issuer and a wrong type', async () => {
    const u = await newUser();
    const claims = JSON.parse(atob(u.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    for (const bad of [{ ...claims, aud: 'someone-else' }, { ...claims, iss: 'someone-else' }]) {
      expectError(await call('GET', '/user', { token: await token(bad) }), 401, 'Invalid token');
    }
    expectError(await call('GET', '/user', { token: await token(claims, { typ: 'JWT' }) }), 401, 'Invalid token');
    const { sid: _sid, ...noSid } = claims;
    expectError(await call('GET', '/user', { token: await token(noSid) }), 401, 'Invalid token');
  });

  it('rejects an expired token with its own message', async () => {
    const u = await newUser();
    const claims = JSON.parse(atob(u.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    const { exp: _exp, iat: _iat, ...rest } = claims;
    const expired = await token(rest, { exp: Math.floor(Date.now() / 1000) - 60 });
    const res = await call('GET', '/user', { token: expired });
    expectError(res, 401, 'Token has expired');
    expect(res.json.code).toBe('token_expired');
  });

  it('accepts its own token and then refuses it once the session is revoked', async () => {
    const u = await newUser();
    expect((await call('GET', '/user', { token: u.token })).status).toBe(200);
    expect((await call('POST', '/auth/logout', { token: u.token })).status).toBe(200);
    const res = await call('GET', '/user', { token: u.token });
    expectError(res, 401, 'Session has been revoked');
    expect(res.json.code).toBe('session_revoked');
  });

  it('ignores a bad token on a public route', async () => {
    expect((await call('GET', '/ping', { token: 'garbage' })).status).toBe(200);
  });
});
