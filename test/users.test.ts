import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, uniqueEmail } from './helpers';

describe('GET /user', () => {
  it('returns the upstream shape for the signed-in user only', async () => {
    const u = await newUser();
    const res = await call('GET', '/user', { token: u.token });
    expect(res.status).toBe(200);
    expect(res.json.user).toMatchObject({ user_id: u.userId, email: u.email });
    expect(Object.keys(res.json.user).sort()).toEqual(['created_at', 'email', 'user_id']);
  });

  it('answers 401 without a valid token', async () => {
    expectError(await call('GET', '/user'), 401, 'Missing Authorization Header');
    expectError(await call('GET', '/user', { token: 'x.y.z' }), 401, 'Invalid token');
  });
});

describe('PUT /user', () => {
  it('updates the email, normalized', async () => {
    const u = await newUser();
    const next = uniqueEmail('renamed');
    const res = await call('PUT', '/user', { token: u.token, body: { email: ` ${next.toUpperCase()} ` } });
    expect(res.status).toBe(200);
    expect(res.json.msg).toBe('User updated');
    expect((await call('GET', '/user', { token: u.token })).json.user.email).toBe(next);
  });

  it('accepts an empty object and ignores server-set fields', async () => {
    const u = await newUser();
    expect((await call('PUT', '/user', { token: u.token, body: { user_id: 'hijack', password_hash: 'x' } })).status).toBe(200);
    expect((await call('GET', '/user', { token: u.token })).json.user.user_id).toBe(u.userId);
  });

  it('answers its errors', async () => {
    const u = await newUser();
    const other = await newUser();
    expectError(await call('PUT', '/user', { body: { email: 'a@b.co' } }), 401, 'Missing Authorization Header');
    expectError(await call('PUT', '/user', { token: u.token }), 400, 'Missing JSON in request');
    expectError(await call('PUT', '/user', { token: u.token, body: { email: 'nope' } }), 400, 'Invalid email address');
    expectError(await call('PUT', '/user', { token: u.token, body: { email: other.email.toUpperCase() } }), 400, 'User already exists');
  });

  it('answers 404 User not found when the account is gone', async () => {
    const u = await newUser();
    const { env } = await import('cloudflare:workers');
    await env.DB.prepare('DELETE FROM users WHERE id = ?').bind(u.userId).run();
    expectError(await call('GET', '/user', { token: u.token }), 404, 'User not found');
    expectError(await call('PUT', '/user', { token: u.token, body: {} }), 404, 'User not found');
  });
});
