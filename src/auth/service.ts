import { config, type Config } from '../lib/config';
import { badRequest } from '../lib/errors';
import { newId } from '../lib/ids';
import type { AuthUser, DataDeps } from '../lib/types';
import { clearLoginAttempts, findUserByEmail, insertUser, updatePasswordHash } from '../users/queries';
import { isEmail } from '../users/schemas';
import { currentUser, userExists, userNotFound } from '../users/service';
import { checkCurrentPassword, countAttempt, incorrectPassword } from './attempts';
import { dummyHash, hashPassword, verifyPassword } from './password';
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
