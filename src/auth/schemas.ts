import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { emailSchema } from '../users/schemas';

export const CREDENTIALS = 'Missing email/password parameter';
export const CHANGE_PASSWORD = 'Missing current_password/new_password parameter';
export const REFRESH_TOKEN = 'Missing refresh_token parameter';
const PASSWORD_MAX = 1024;

const password = (missing: string) =>
  z.string({ error: missing }).min(1, { error: missing }).max(PASSWORD_MAX, { error: 'Password is too long' });

export const registerBody = z
  .object({ email: emailSchema(CREDENTIALS), password: password(CREDENTIALS) })
  .openapi({ example: { email: 'ada@example.com', password: 'correct horse battery staple' } });
/** Login normalizes the email like registration; one no account can have is a 404 (auth/service.ts). */
export const loginBody = z
  .object({ email: requiredString(CREDENTIALS).toLowerCase(), password: password(CREDENTIALS) })
  .openapi({ example: { email: 'ada@example.com', password: 'correct horse battery staple' } });
export const refreshBody = z
  .object({ refresh_token: requiredString(REFRESH_TOKEN).openapi({ description: 'The refresh_token of the last login or refresh' }) })
  .openapi({ example: { refresh_token: 'kq3Yv8D1cM0Jx7rT2bN5wE9uHf4Lz6Ps1Ag8Qo3Wi0U' } });
export const logoutBody = z
  .object({ refresh_token: z.string().optional().openapi({ description: 'Only needed once the access token has expired' }) })
  .openapi({ example: {} });
export const changePasswordBody = z
  .object({ current_password: password(CHANGE_PASSWORD), new_password: password(CHANGE_PASSWORD) })
  .openapi({ example: { current_password: 'correct horse battery staple', new_password: 'staple battery horse correct' } });

export const TokenPair = z
  .object({
    access_token: z.string(),
    refresh_token: z.string(),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
  })
  .openapi('TokenPair');
export const Msg = z.object({ msg: z.string() });
