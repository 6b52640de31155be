import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, uniqueEmail } from './helpers';

const PASSWORD = 'a good long password';

describe('POST /register', () => {
  it('creates a user and answers the upstream shape', async () => {
    const email = uniqueEmail();
    const res = await call('POST', '/register', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'User created successfully', email });
  });

  it('trims and lower-cases the email: User@Example.com and user@example.com are one account', async () => {
    const local = uniqueEmail('Mixed');
    const res = await call('POST', '/register', { body: { email: `  ${local.toUpperCase()} `, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(res.json.email).toBe(local.toLowerCase());
    expectError(await call('POST', '/register', { body: { email: local.toLowerCase(), password: PASSWORD } }), 400, 'User already exists');
    const login = await call('POST', '/auth/login', { body: { email: local.toUpperCase(), password: PASSWORD } });
    expect(login.status).toBe(200);
  });

  it.each([
    ['no body', undefined, undefined],
    ['a JSON body without a JSON content type', JSON.stringify({ email: 'a@b.co', password: PASSWORD }), 'text/plain'],
    ['unparsable JSON', '{"email": ', 'application/json'],
    ['a JSON array', '[1,2]', 'application/json'],
    ['a JSON string', '"hello"', 'application/json'],
    ['JSON null', 'null', 'application/json'],
  ])('answers 400 Missing JSON in request for %s', async (_name, body, type) => {
    const headers: Record<string, string> = type ? { 'content-type': type } : {};
    expectError(await call('POST', '/register', { body, headers }), 400, 'Missing JSON in request');
  });

  it.each([
    ['no email', { password: PASSWORD }],
    ['no password', { email: 'x@example.com' }],
    ['an empty email', { email: '', password: PASSWORD }],
    ['a blank email', { email: '   ', password: PASSWORD }],
    ['an empty password', { email: 'x@example.com', password: '' }],
    ['a numeric email', { email: 42, password: PASSWORD }],
    ['a password that is not a string', { email: 'x@example.com', password: ['a'] }],
  ])('answers 400 Missing email/password parameter for %s', async (_name, body) => {
    expectError(await call('POST', '/register', { body }), 400, 'Missing email/password parameter');
  });

  it('rejects a malformed email', async () => {
    const res = await call('POST', '/register', { body: { email: 'not-an-email', password: PASSWORD } });
    expectError(res, 400, 'Invalid email address');
    expect(res.json.code).toBe('validation_error');
    expect(res.json.issues[0].path).toBe('email');
  });

  it('requires a minimum password length at registration', async () => {
    expectError(await call('POST', '/register', { body: { email: uniqueEmail(), password: 'short' } }), 400, 'Password must be at least 8 characters');
  });

  it('ignores fields only the server sets', async () => {
    const email = uniqueEmail();
    const res = await call('POST', '/register', { body: { email, password: PASSWORD, id: 'mine', role: 'admin', password_hash: 'x' } });
    expect(res.status).toBe(200);
    const row = await env.DB.prepare('SELECT id, password_hash FROM users WHERE email = ?').bind(email).first<{ id: string; password_hash: string }>();
    expect(row?.id).not.toBe('mine');
    expect(row?.password_hash).toMatch(/^\$scrypt\$v=1\$/);
  });
});

describe('POST /auth/login', () => {
  it('returns the upstream access_token plus refresh_token, token_type and expires_in', async () => {
    const email = uniqueEmail();
    await call('POST', '/register', { body: { email, password: PASSWORD } });
    const res = await call('POST', '/auth/login', { body: { email, password: PASSWORD } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.json).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'token_type']);
    expect(res.json.token_type).toBe('Bearer');
    expect(res.json.expires_in).toBe(900);
    expect(res.json.refresh_token.length).toBeGreaterThanOrEqual(22);
  });

  it('answers the upstream errors', async () => {
    const u = await newUser();
    expectError(await call('POST', '/auth/login'), 400, 'Missing JSON in request');
    expectError(await call('POST', '/auth/login', { body: { email: u.email } }), 400, 'Missing email/password parameter');
    expectError(await call('POST', '/auth/login', { body: { password: 'x' } }), 400, 'Missing email/password parameter');
    expectError(await call('POST', '/auth/login', { body: { email: uniqueEmail('nobody'), password: 'whatever1' } }), 404, 'User not found');
    expectError(await call('POST', '/auth/login', { body: { email: u.email, password: 'wrong password' } }), 401, 'Incorrect password.');
  });

  it('has no minimum password length at login', async () => {
    const u = await newUser();
    expectError(await call('POST', '/auth/login', { body: { email: u.email, password: 'x' } }), 401, 'Incorrect password.');
  });

  it('never returns a password hash or a secret', async () => {
    const u = await newUser();
    const bodies = [
      await call('POST', '/auth/login', { body: { email: u.email, password: u.password } }),
      await call('GET', '/user', { token: u.token }),
      await call('POST', '/register', { body: { email: uniqueEmail(), password: PASSWORD } }),
    ];
    for (const b of bodies) {
      expect(b.text).not.toMatch(/scrypt|password_hash|passwordHash/);
      expect(b.text).not.toContain(env.JWT_SECRET);
    }
  });
});
