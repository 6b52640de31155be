import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { call, expectError, newUser, uniqueEmail, withVars, type TestUser } from './helpers';

/** Moves the session's sign-in back past REAUTH_WINDOW_SECONDS (default 300). */
async function ageSession(u: TestUser, seconds = 301) {
  const sid = JSON.parse(atob(u.token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sid;
  await env.DB.prepare('UPDATE sessions SET created_at = created_at - ? WHERE id = ?').bind(seconds * 1000, sid).run();
}

const emailOf = async (u: TestUser) => (await call('GET', '/user', { token: u.token })).json.user.email;
const attemptRow = (email: string) => env.DB.prepare('SELECT * FROM login_attempts WHERE email = ?').bind(email).first();

describe('changing the email needs a recent sign-in or the current password', () => {
  it("right after login the contract's PUT /user {email} still answers 200 User updated", async () => {
    const u = await newUser();
    const email = uniqueEmail('fresh');
    const res = await call('PUT', '/user', { token: u.token, body: { email } });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ msg: 'User updated' });
    expect(await emailOf(u)).toBe(email);
  });

  it('an older session is refused with 401 reauth_required, and the email stays', async () => {
    const u = await newUser();
    await ageSession(u);
    const res = await call('PUT', '/user', { token: u.token, body: { email: uniqueEmail('thief') } });
    expectError(res, 401, 'Sign in again, or send current_password, to change the email');
    expect(res.json.code).toBe('reauth_required');
    expect(await emailOf(u)).toBe(u.email);
    // Sending the unchanged email changes nothing and needs nothing.
    expect((await call('PUT', '/user', { token: u.token, body: { email: u.email } })).status).toBe(200);
  });

  it('an older session changes the email with the right current_password, not a wrong one', async () => {
    const u = await newUser();
    await ageSession(u);
    const email = uniqueEmail('moved');
    const wrong = await call('PUT', '/user', { token: u.token, body: { email, current_password: 'not it at all' } });
    expectError(wrong, 401, 'Incorrect password.');
    expect(await emailOf(u)).toBe(u.email);
    const right = await call('PUT', '/user', { token: u.token, body: { email, current_password: u.password } });
    expect(right.status).toBe(200);
    expect(await emailOf(u)).toBe(email);
  });

  it('REAUTH_WINDOW_SECONDS sets the window', async () => {
    const u = await newUser();
    await ageSession(u, 60);
    await withVars({ REAUTH_WINDOW_SECONDS: '30' }, async () => {
      expect((await call('PUT', '/user', { token: u.token, body: { email: uniqueEmail() } })).json.code).toBe('reauth_required');
    });
    expect((await call('PUT', '/user', { token: u.token, body: { email: uniqueEmail() } })).status).toBe(200);
  });
});

describe('a wrong current_password counts toward the login limit of the account', () => {
  it('change-password and PUT /user failures share the failed-login counter; past it 429 with Retry-After', async () => {
    const u = await newUser();
    await ageSession(u);
    await withVars({ LOGIN_MAX_FAILURES: '3' }, async () => {
      const wrong = { current_password: 'wrong password', new_password: 'another long password' };
      expectError(await call('POST', '/auth/change-password', { token: u.token, body: wrong }), 401, 'Incorrect password.');
      expectError(await call('POST', '/auth/change-password', { token: u.token, body: wrong }), 401, 'Incorrect password.');
      const put = await call('PUT', '/user', { token: u.token, body: { email: uniqueEmail(), current_password: 'nope nope' } });
      expectError(put, 401, 'Incorrect password.');
      // The fourth try is refused before the password is looked at, even the right one.
      const right = { current_password: u.password, new_password: 'another long password' };
      const limited = await call('POST', '/auth/change-password', { token: u.token, body: right });
      expectError(limited, 429, 'Too many requests');
      expect(limited.json.code).toBe('too_many_login_attempts');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      const put2 = await call('PUT', '/user', { token: u.token, body: { email: uniqueEmail(), current_password: u.password } });
      expectError(put2, 429, 'Too many requests');
      // The same counter as logins: the owner's login is limited too, until the window ends.
      expectError(await call('POST', '/auth/login', { body: { email: u.email, password: u.password } }), 429, 'Too many requests');
    });
  });

  it('a right current_password clears the counter, like a successful login', async () => {
    const u = await newUser();
    await withVars({ LOGIN_MAX_FAILURES: '3' }, async () => {
      const wrong = { current_password: 'wrong password', new_password: 'another long password' };
      expect((await call('POST', '/auth/change-password', { token: u.token, body: wrong })).status).toBe(401);
      expect(await attemptRow(u.email)).not.toBeNull();
      const ok = await call('POST', '/auth/change-password', { token: u.token, body: { ...wrong, current_password: u.password } });
      expect(ok.status).toBe(200);
      expect(await attemptRow(u.email)).toBeNull();
    });
  });
});

describe('login with an email no account can have', () => {
  it('a 900,000-character email is a 404 User not found and writes no login_attempts row', async () => {
    const email = `${'a'.repeat(900_000)}@example.com`;
    const before = await env.DB.prepare('SELECT count(*) AS n FROM login_attempts').first<{ n: number }>();
    const res = await call('POST', '/auth/login', { body: { email, password: 'whatever password' } });
    expectError(res, 404, 'User not found');
    expect(res.json.code).toBe('user_not_found');
    const after = await env.DB.prepare('SELECT count(*) AS n FROM login_attempts').first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
    const long = await env.DB.prepare('SELECT count(*) AS n FROM login_attempts WHERE length(email) > 254').first<{ n: number }>();
    expect(long!.n).toBe(0);
  });

  it('255 characters or no address at all is not counted; a valid unknown address is', async () => {
    const tooLong = `${'b'.repeat(243)}@example.com`; // 255 characters
    expect(tooLong).toHaveLength(255);
    for (const email of [tooLong, 'not-an-email', 'a@b']) {
      expectError(await call('POST', '/auth/login', { body: { email, password: 'whatever password' } }), 404, 'User not found');
      expect(await attemptRow(email)).toBeNull();
    }
    const unknown = uniqueEmail('nobody');
    expectError(await call('POST', '/auth/login', { body: { email: unknown, password: 'whatever password' } }), 404, 'User not found');
    expect(await attemptRow(unknown)).not.toBeNull();
  });
});
