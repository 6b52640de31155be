import { config, type Config } from '../lib/config';
import { ApiError, badRequest } from '../lib/errors';
import { newId } from '../lib/ids';
import type { AuthUser, DataDeps } from '../lib/types';
import type { Db } from '../db/client';
import { findUserByEmail, insertUser, updatePasswordHash, updateUserEmail, type UserRow } from '../users/queries';
import { isEmail } from '../users/schemas';
import { currentUser, userExists, userNotFound } from '../users/service';
import { checkCurrentPassword, countAttempt, incorrectPassword } from './attempts';
import { dummyHash, hashPassword, verifyPassword } from './password';
import { clearLoginAttempts, sessionCreatedAt } from './queries';
import { revokeSessions, revokeUserSessions, sessionOfRefreshToken, startSession, type TokenPair } from './sessions';

interface Credentials {
  email: string;
  password: string;
}

function checkNewPassword(cfg: Config, value: string) {
  const min = cfg.passwordMinLength;
  if (value.length < min) throw badRequest(`Password must be at least ${min} characters`, 'weak_password');
}

/** A taken email is refused before the KDF runs, and again by the unique index if two race. */
export async function register({ db, env }: DataDeps, { email, password }: Credentials): Promise<void> {
  const cfg = config(env);
  checkNewPassword(cfg, password);
  if (await findUserByEmail(db, email)) throw userExists();
  const passwordHash = await hashPassword(password, cfg.scrypt);
  if (!(await insertUser(db, { id: newId(), email, passwordHash, now: Date.now() }))) throw userExists();
}

/**
 * An unknown email still costs one KDF run, so timing does not tell which emails exist. A success
 * clears the attempts and re-hashes a hash made with other KDF parameters than the configured ones.
 */
export async function login({ db, env }: DataDeps, { email, password }: Credentials): Promise<TokenPair> {
  const cfg = config(env);
  const now = Date.now();
  // Not an address any account can have: answered like one nobody has, and not counted, so an
  // anonymous request cannot store an arbitrary string in login_attempts.
  if (!isEmail(email)) throw userNotFound();
  await countAttempt(db, cfg, email, now);
  const user = await findUserByEmail(db, email);
  if (!user) {
    await verifyPassword(password, await dummyHash(cfg.scrypt), cfg.scrypt);
    throw userNotFound();
  }
  const check = await verifyPassword(password, user.passwordHash, cfg.scrypt);
  if (!check.ok) throw incorrectPassword();
  await clearLoginAttempts(db, email);
  if (check.rehash) await updatePasswordHash(db, user.id, await hashPassword(password, cfg.scrypt), now);
  return startSession({ db, env }, user.id);
}

/** Revokes one session: the caller's, or (once its access token expired) a refresh token's. */
export async function logout(deps: DataDeps, by: { sessionId: string } | { refreshToken: string }): Promise<void> {
  const sessionId = 'sessionId' in by ? by.sessionId : await sessionOfRefreshToken(deps.db, by.refreshToken);
  await revokeSessions(deps, [sessionId]);
}

/**
 * Every session but the caller's is revoked, so a stolen session dies with the old password. A wrong
 * current password counts like a failed login (auth/attempts.ts).
 */
export async function changePassword(
  { db, env }: DataDeps,
  user: AuthUser,
  input: { current_password: string; new_password: string },
): Promise<void> {
  const cfg = config(env);
  const row = await currentUser(db, user.id);
  await checkCurrentPassword(db, cfg, row, input.current_password);
  checkNewPassword(cfg, input.new_password);
  await updatePasswordHash(db, user.id, await hashPassword(input.new_password, cfg.scrypt), Date.now());
  await revokeUserSessions({ db, env }, user.id, user.sessionId);
}

export const REAUTH_REQUIRED = 'Sign in again, or send current_password, to change the email';

/**
 * Changes only what is sent; an email another account has is refused. Changing the email takes
 * a recent sign-in (REAUTH_WINDOW_SECONDS from the session's login) or `current_password`, so a
 * stolen access token cannot move the account to the thief's address.
 */
export async function updateUser(
  { db, env }: DataDeps,
  caller: AuthUser,
  input: { email?: string; current_password?: string },
): Promise<void> {
  const user = await currentUser(db, caller.id);
  const { email } = input;
  if (email === undefined || email === user.email) return;
  await confirmIdentity(db, config(env), user, caller.sessionId, input.current_password);
  if (!(await updateUserEmail(db, user.id, email, Date.now()))) throw userExists();
}

async function confirmIdentity(db: Db, cfg: Config, user: UserRow, sessionId: string, password?: string) {
  if (password !== undefined) {
    await checkCurrentPassword(db, cfg, user, password);
    return;
  }
  const signedInAt = await sessionCreatedAt(db, sessionId);
  if (signedInAt === null || Date.now() - signedInAt > cfg.reauthWindow * 1000) {
    throw new ApiError(401, 'reauth_required', REAUTH_REQUIRED);
  }
}
