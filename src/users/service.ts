import type { Db } from '../db/client';
import { badRequest, notFound } from '../lib/errors';
import { findUserById, updateUserEmail, type UserRow } from './queries';

export const USER_NOT_FOUND = 'User not found';
export const USER_EXISTS = 'User already exists';
export const userExists = () => badRequest(USER_EXISTS, 'user_exists');
export const userNotFound = () => notFound(USER_NOT_FOUND, 'user_not_found');

/** The signed-in user's row: a token can outlive its user, which answers 404. */
export async function currentUser(db: Db, userId: string): Promise<UserRow> {
  const user = await findUserById(db, userId);
  if (!user) throw userNotFound();
  return user;
}

/** Changes only what is sent; an email another account has is refused. */
export async function updateUser(db: Db, userId: string, input: { email?: string }): Promise<void> {
  const user = await currentUser(db, userId);
  const { email } = input;
  if (email !== undefined && email !== user.email && !(await updateUserEmail(db, userId, email, Date.now()))) {
    throw userExists();
  }
}
