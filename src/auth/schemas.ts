import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { emailSchema } from '../users/schemas';

export const CREDENTIALS = 'Missing email/password parameter';
export const CHANGE_PASSWORD = 'Missing current_password/new_password parameter';
export const REFRESH_TOKEN = 'Missing refresh_token parameter';
const PASSWORD_MAX = 1024;

const password = (missing: string) =>
  z.string({ error: missing }).min(1, { error: missing }).max(PASSWORD_MAX, { error: 'Password is too long' });

export const registerBody = z.object({ email: emailSchema(CREDENTIALS), password: password(CREDENTIALS) });
/** Login normalizes the email like registration but does not judge its format (a 404 says enough). */
export const loginBody = z.object({ email: requiredString(CREDENTIALS).toLowerCase(), password: password(CREDENTIALS) });
export const refreshBody = z.object({ refresh_token: requiredString(REFRESH_TOKEN) });
export const logoutBody = z.object({ refresh_token: z.string().optional() });
export const changePasswordBody = z.object({
  current_password: password(CHANGE_PASSWORD),
  new_password: password(CHANGE_PASSWORD),
});

export const TokenPair = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .openapi('TokenPair');
export const Msg = z.object({ msg: z.string() });
