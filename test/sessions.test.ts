import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, withVars } from './helpers';

const refresh = (refresh_token: string) => call('POST', '/auth/refresh', { body: { refresh_token } });

async function login(u: { email: string; password: string }) {
  const res = await call('POST', '/auth/login', { body: { email: u.email, password: u.password } });
  expect(res.status).toBe(200);
  return res.json as { access_token: string; refresh_token: string };
}

describe('POST /auth/refresh', () => {
  it('rotates: a new pair each time, the new access token works', async () => {
    const u = await newUser();
    const first = await refresh(u.refreshToken);
    expect(first.status).toBe(200);
    expect(first.json.refresh_token).not.toBe(u.refreshToken);
    expect((await call('GET', '/user', { token: first.json.access_token })).status).toBe(200);
    const second = await refresh(first.json.refresh_token);
    expect(second.status).toBe(200);
    const rows = await env.DB.prepare('SELECT id, parent_id, family_id, token_hash FROM refresh_tokens WHERE user_id = ? ORDER BY created_at').bind(u.userId).all<any>();
    expect(rows.results).toHaveLength(3);
    expect(rows.results[1].parent_id).toBe(rows.results[0].id);
    expect(rows.results[2].parent_id).toBe(rows.results[1].id);
    expect(new Set(rows.results.map((r) => r.family_id)).size).toBe(1);
    // Only hashes are stored.
    expect(rows.results.map((r) => r.token_hash)).not.toContain(second.json.refresh_token);
  });

  it('answers its errors', async () => {
    expectError(await call('POST', '/auth/refresh'), 400, 'Missing JSON in request');
    expectError(await call('POST', '/auth/refresh', { body: {} }), 400, 'Missing refresh_token parameter');
    expectError(await refresh('not-a-token'), 401, 'Invalid refresh token');
  });

  it('lets exactly one of two concurrent refreshes with one token win; the loser revokes nothing', async () => {
    const u = await newUser();
    const results = await Promise.all([refresh(u.refreshToken), refresh(u.refreshToken), refresh(u.refreshToken)]);
    const winners = results.filter((r) => r.status === 200);
    expect(winners).toHaveLength(1);
    for (const loser of results.filter((r) => r.status !== 200)) {
      expectError(loser, 401);
      expect(loser.json.code).toBe('refresh_token_reused');
    }
    // Within the reuse interval nothing is revoked: the winner's tokens keep working.
    expect((await call('GET', '/user', { token: winners[0].json.access_token })).status).toBe(200);
    expect((await refresh(winners[0].json.refresh_token)).status).toBe(200);
  });

  it('revokes the whole family and its session when a rotated token returns after the interval', async () => {
    const u = await newUser();
    const rotated = await refresh(u.refreshToken);
    expect(rotated.status).toBe(200);
    await withVars({ REFRESH_REUSE_INTERVAL_SECONDS: '0' }, async () => {
      await new Promise((r) => setTimeout(r, 5)); // the interval is now 0 s; any later use is reuse
      const reuse = await refresh(u.refreshToken);
      expectError(reuse, 401);
      expect(reuse.json.code).toBe('refresh_token_reused');
    });
    expectError(await call('GET', '/user', { token: rotated.json.access_token }), 401, 'Session has been revoked');
    expectError(await refresh(rotated.json.refresh_token), 401, 'Invalid refresh token');
  });
});

describe('logout', () => {
  it('with a bearer token revokes the session and its refresh family', async () => {
    const u = await newUser();
    const res = await call('POST', '/auth/logout', { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json.msg).toBe('Logged out');
    expectError(await call('GET', '/user', { token: u.token }), 401, 'Session has been revoked');
    expectError(await refresh(u.refreshToken), 401, 'Invalid refresh token');
  });

  it('with only a refresh token (the access token expired) revokes that session', async () => {
    const u = await newUser();
    const res = await call('POST', '/auth/logout', { body: { refresh_token: u.refreshToken } });
    expect(res.status).toBe(200);
    expectError(await call('GET', '/user', { token: u.token }), 401, 'Session has been revoked');
  });

  it('needs a token or a refresh token', async () => {
    expectError(await call('POST', '/auth/logout'), 401, 'Missing Authorization Header');
    expectError(await call('POST', '/auth/logout', { body: { refresh_token: 'nope' } }), 401, 'Invalid refresh token');
    expectError(await call('POST', '/auth/logout', { token: 'bad.token.here' }), 401, 'Invalid token');
  });

  it('logout-all revokes every session of the user and no one else\'s', async () => {
    const u = await newUser();
    const other = await newUser();
    const second = await login(u);
    expect((await call('POST', '/auth/logout-all', { token: u.token })).status).toBe(200);
    expectError(await call('GET', '/user', { token: u.token }), 401, 'Session has been revoked');
    expectError(await call('GET', '/user', { token: second.access_token }), 401, 'Session has been revoked');
    expectError(await refresh(second.refresh_token), 401, 'Invalid refresh token');
    expect((await call('GET', '/user', { token: other.token })).status).toBe(200);
    expectError(await call('POST', '/auth/logout-all'), 401, 'Missing Authorization Header');
  });
});

describe('POST /auth/change-password', () => {
  it('changes the password and revokes every other session', async () => {
    const u = await newUser();
    const second = await login(u);
    const res = await call('POST', '/auth/change-password', {
      token: u.token,
      body: { current_password: u.password, new_password: 'a brand new password' },
    });
    expect(res.status).toBe(200);
    expect((await call('GET', '/user', { token: u.token })).status).toBe(200);
    expectError(await call('GET', '/user', { token: second.access_token }), 401, 'Session has been revoked');
    expectError(await call('POST', '/auth/login', { body: { email: u.email, password: u.password } }), 401, 'Incorrect password.');
    expect((await call('POST', '/auth/login', { body: { email: u.email, password: 'a brand new password' } })).status).toBe(200);
  });

  it('answers its errors', async () => {
    const u = await newUser();
    expectError(await call('POST', '/auth/change-password', { body: { current_password: 'x', new_password: 'y' } }), 401, 'Missing Authorization Header');
    expectError(await call('POST', '/auth/change-password', { token: u.token }), 400, 'Missing JSON in request');
    expectError(await call('POST', '/auth/change-password', { token: u.token, body: { current_password: u.password } }), 400, 'Missing current_password/new_password parameter');
    expectError(await call('POST', '/auth/change-password', { token: u.token, body: { current_password: 'wrong one', new_password: 'long enough pw' } }), 401, 'Incorrect password.');
    expectError(await call('POST', '/auth/change-password', { token: u.token, body: { current_password: u.password, new_password: 'short' } }), 400, 'Password must be at least 8 characters');
  });
});
