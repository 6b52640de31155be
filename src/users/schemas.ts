import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { UserRow } from './queries';

/** Trimmed and lower-cased, so `User@Example.com` and `user@example.com` are one account. */
export const emailSchema = (missing: string) =>
  requiredString(missing)
    .toLowerCase()
    .pipe(z.email({ error: 'Invalid email address' }).max(254, { error: 'Invalid email address' }));

const emailFormat = z.email().max(254);
/** What login checks before counting an attempt (auth/service.ts): the same format as emailSchema. */
export const isEmail = (value: string) => emailFormat.safeParse(value).success;

/** `current_password` is ours: it lets an older session change the email (users/service.ts). */
export const updateUserBody = z.object({
  email: emailSchema('Missing email parameter').optional(),
  current_password: z.string().max(1024, { error: 'Password is too long' }).optional(),
}).openapi({ example: { email: 'ada.lovelace@example.com' } });

export const User = z
  .object({ user_id: z.string(), email: z.string(), created_at: z.string() })
  .openapi('User');

export const userJson = (u: UserRow) => ({ user_id: u.id, email: u.email, created_at: iso(u.createdAt) });
