/**
 * Signed download links: HMAC-SHA256 with LINK_SECRET over the file id and the expiry (epoch
 * seconds). The signature is checked with crypto.subtle.verify, which compares in constant time.
 */
import { createMiddleware } from 'hono/factory';
import { ApiError, type ErrorCode } from '../lib/errors';
import { base64url } from '../lib/ids';
import type { AppEnv } from '../lib/types';

/** Links live at most seven days. */
export const MAX_LINK_TTL_SECONDS = 7 * 24 * 3600;
export const INVALID_LINK = 'Invalid link signature';
export const EXPIRED_LINK = 'Link has expired';

const payload = (fileId: string, expires: number) => new TextEncoder().encode(`file-link:${fileId}:${expires}`);

function hmacKey(env: Env, usage: 'sign' | 'verify') {
  if (!env.LINK_SECRET) throw new Error('LINK_SECRET is not set');
  const raw = new TextEncoder().encode(env.LINK_SECRET);
  return crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

function fromBase64url(s: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(s)) return null;
  try {
    const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/'));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

export async function signLink(env: Env, fileId: string, expires: number): Promise<string> {
  const sig = await crypto.subtle.sign('HMAC', await hmacKey(env, 'sign'), payload(fileId, expires));
  return base64url(new Uint8Array(sig));
}

/** The path and query of a link to `fileId` valid until `expires` (epoch seconds). */
export async function linkPath(env: Env, fileId: string, expires: number): Promise<string> {
  const signature = await signLink(env, fileId, expires);
  return `/files/${encodeURIComponent(fileId)}/content?expires=${expires}&signature=${signature}`;
}

/** True when `signature` is the link's HMAC and `expires` has not passed (403 otherwise). */
export async function verifyLink(env: Env, fileId: string, expiresRaw: string | undefined, signature: string | undefined, nowMs: number) {
  const forbidden = (msg: string, code: ErrorCode) => new ApiError(403, code, msg);
  const sig = signature ? fromBase64url(signature) : null;
  const expires = expiresRaw && /^\d{1,12}$/.test(expiresRaw) ? Number(expiresRaw) : null;
  if (!sig || expires === null) throw forbidden(INVALID_LINK, 'invalid_signature');
  const valid = await crypto.subtle.verify('HMAC', await hmacKey(env, 'verify'), sig, payload(fileId, expires));
  if (!valid) throw forbidden(INVALID_LINK, 'invalid_signature');
  if (nowMs >= expires * 1000) throw forbidden(EXPIRED_LINK, 'link_expired');
}

/** The auth of `signed-link` routes: the link's own query authorizes the file in the path. */
export const requireSignedLink = createMiddleware<AppEnv>(async (c, next) => {
  await verifyLink(c.env, c.req.param('file_id') ?? '', c.req.query('expires'), c.req.query('signature'), Date.now());
  await next();
});
