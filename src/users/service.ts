import type { Db } from '../db/client';
import { badRequest, notFound } from '../lib/errors';
import { findUserById, type UserRow } from './queries';

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
