import { config } from '../lib/config';
import { ApiError } from '../lib/errors';
import { newId, randomToken, sha256Hex } from '../lib/ids';
import type { Db } from '../db/client';
import {
  findRefreshToken,
  insertSession,
  liveSessionIds,
  markSessionsRevoked,
  rotateRefreshToken,
} from './queries';
import { signAccessToken } from './tokens';
import { onSessionsRevoked } from './revocation';

const kvKey = (sessionId: string) => `session:${sessionId}`;

/**
 * Sessions this isolate saw live in KV in the last second. A busy client's requests then cost one
 * KV read a second instead of one each; a revocation clears the entry here at once, and other
 * isolates and locations already wait on KV's own propagation (up to ~60 s), which a second does
 * not change.
 */
const LIVE_CACHE_MS = 1000;
const seenLive = new Map<string, number>();

/** KV holds one key per live session; the auth middleware requires it to exist. */
export async function sessionIsLive(env: Env, sessionId: string, opts: { fresh?: boolean } = {}): Promise<boolean> {
  const now = Date.now();
  if (!opts.fresh && (seenLive.get(sessionId) ?? 0) > now) return true;
  const live = (await env.SESSIONS.get(kvKey(sessionId))) !== null;
  if (live) {
    if (seenLive.size > 10_000) seenLive.clear();
    seenLive.set(sessionId, now + LIVE_CACHE_MS);
  } else seenLive.delete(sessionId);
  return live;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'Bearer';
  expires_in: number;
}

async function pair(env: Env, userId: string, sessionId: string, refreshToken: string): Promise<TokenPair> {
  const { token, expiresIn } = await signAccessToken(env, { id: userId, sessionId });
  return { access_token: token, refresh_token: refreshToken, token_type: 'Bearer', expires_in: expiresIn };
}

export async function startSession(env: Env, db: Db, userId: string): Promise<TokenPair> {
  const cfg = config(env);
  const now = Date.now();
  const sessionId = newId();
  const refreshToken = randomToken();
  const expiresAt = now + cfg.sessionTtl * 1000;
  await insertSession(db, { id: sessionId, userId, now, expiresAt }, { id: newId(), hash: await sha256Hex(refreshToken) });
  await env.SESSIONS.put(kvKey(sessionId), JSON.stringify({ user_id: userId, expires_at: expiresAt }), {
    expirationTtl: Math.max(60, cfg.sessionTtl),
  });
  return pair(env, userId, sessionId, refreshToken);
}

const invalidRefresh = () => new ApiError(401, 'invalid_refresh_token', 'Invalid refresh token');

/** Rotates a refresh token (see rotateRefreshToken); a rotated token shown again is reuse. */
export async function refreshSession(env: Env, db: Db, presented: string): Promise<TokenPair> {
  const cfg = config(env);
  const now = Date.now();
  const hash = await sha256Hex(presented);
  const child = randomToken();
  const parent = await rotateRefreshToken(db, hash, { id: newId(), hash: await sha256Hex(child) }, now);
  if (parent) {
    if (!(await sessionIsLive(env, parent.familyId))) throw invalidRefresh();
    return pair(env, parent.userId, parent.familyId, child);
  }
  const row = await findRefreshToken(db, hash);
  if (!row || row.revokedAt !== null || row.expiresAt <= now || row.rotatedAt === null) throw invalidRefresh();
  if (now - row.rotatedAt <= cfg.refreshReuseInterval * 1000) {
    throw new ApiError(401, 'refresh_token_reused', 'Refresh token has already been used');
  }
  await revokeSessions(env, db, [row.familyId]);
  throw new ApiError(401, 'refresh_token_reused', 'Refresh token reuse detected; the session has been revoked');
}

/** The session a refresh token belongs to, for logout without a live access token. */
export async function sessionOfRefreshToken(db: Db, presented: string): Promise<string> {
  const row = await findRefreshToken(db, await sha256Hex(presented));
  if (!row || row.revokedAt !== null) throw invalidRefresh();
  return row.familyId;
}

/** Revokes sessions everywhere: D1 (source of truth), KV (what requests check), open sockets. */
export async function revokeSessions(env: Env, db: Db, sessionIds: string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  await markSessionsRevoked(db, sessionIds, Date.now());
  for (const id of sessionIds) seenLive.delete(id);
  await Promise.all(sessionIds.map((id) => env.SESSIONS.delete(kvKey(id))));
  await onSessionsRevoked(env, db, sessionIds);
}

export async function revokeUserSessions(env: Env, db: Db, userId: string, keep?: string): Promise<void> {
  const ids = await liveSessionIds(db, userId, Date.now());
  await revokeSessions(env, db, ids.filter((id) => id !== keep));
}
