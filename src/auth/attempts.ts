import type { Db } from '../db/client';
import type { Config } from '../lib/config';
import { ApiError } from '../lib/errors';
import type { UserRow } from '../users/queries';
import { clearLoginAttempts, countLoginAttempt } from './queries';
import { verifyPassword } from './password';

export const incorrectPassword = () => new ApiError(401, 'incorrect_password', 'Incorrect password.');

/**
 * Counts an attempt against the email (auth/queries.ts: countLoginAttempt); 429 past the limit.
 * The key is the account's email, so failed logins and wrong `current_password`s share one limit.
 */
export async function countAttempt(db: Db, cfg: Config, email: string, now: number) {
  const windowMs = cfg.loginWindow * 1000;
  const attempt = await countLoginAttempt(db, email, now, windowMs);
  if (attempt.failures <= cfg.loginMaxFailures) return;
  const retryAfter = Math.max(1, Math.ceil((attempt.windowStartedAt + windowMs - now) / 1000));
  throw new ApiError(429, 'too_many_login_attempts', 'Too many requests', { retry_after: retryAfter }, {
    'Retry-After': String(retryAfter),
  });
}

/**
 * A signed-in user's `current_password` (PUT /user, POST /auth/change-password), limited like a
 * login: a stolen access token must not buy guesses at the general request rate. Returns whether
 * the stored hash wants re-hashing.
 */
export async function checkCurrentPassword(db: Db, cfg: Config, user: UserRow, password: string): Promise<boolean> {
  await countAttempt(db, cfg, user.email, Date.now());
  const check = await verifyPassword(password, user.passwordHash, cfg.scrypt);
  if (!check.ok) throw incorrectPassword();
  await clearLoginAttempts(db, user.email);
  return check.rehash;
}
