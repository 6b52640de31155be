import { checkCurrentPassword } from '../auth/attempts';
import { sessionCreatedAt } from '../auth/queries';
import type { Db } from '../db/client';
import { config, type Config } from '../lib/config';
import { ApiError, badRequest, notFound } from '../lib/errors';
import type { AuthUser, DataDeps } from '../lib/types';
import { findUserById, updateUserEmail, type UserRow } from './queries';

export const USER_NOT_FOUND = 'User not found';
export const USER_EXISTS = 'User already exists';
export const REAUTH_REQUIRED = 'Sign in again, or send current_password, to change the email';
export const userExists = () => badRequest(USER_EXISTS, 'user_exists');
export const userNotFound = () => notFound(USER_NOT_FOUND, 'user_not_found');

/** The signed-in user's row: a token can outlive its user, which answers 404. */
export async function currentUser(db: Db, userId: string): Promise<UserRow> {
  const user = await findUserById(db, userId);
  if (!user) throw userNotFound();
  return user;
}

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
