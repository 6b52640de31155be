import { config } from '../lib/config';
import { ApiError } from '../lib/errors';
import { newId, randomToken, sha256Hex } from '../lib/ids';
import { forgetSessions, markSessionLive, sessionIsLive } from '../lib/live-sessions';
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
import type { DataDeps } from '../lib/types';

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

export async function startSession({ db, env }: DataDeps, userId: string): Promise<TokenPair> {
  const cfg = config(env);
  const now = Date.now();
  const sessionId = newId();
  const refreshToken = randomToken();
  const expiresAt = now + cfg.sessionTtl * 1000;
  await insertSession(db, { id: sessionId, userId, now, expiresAt }, { id: newId(), hash: await sha256Hex(refreshToken) });
  await markSessionLive(env, sessionId, userId, expiresAt, cfg.sessionTtl);
  return pair(env, userId, sessionId, refreshToken);
}

const invalidRefresh = () => new ApiError(401, 'invalid_refresh_token', 'Invalid refresh token');

/** Rotates a refresh token (see rotateRefreshToken); a rotated token shown again is reuse. */
export async function refreshSession({ db, env }: DataDeps, presented: string): Promise<TokenPair> {
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
  await revokeSessions({ db, env }, [row.familyId]);
  throw new ApiError(401, 'refresh_token_reused', 'Refresh token reuse detected; the session has been revoked');
}

/** The session a refresh token belongs to, for logout without a live access token. */
export async function sessionOfRefreshToken(db: Db, presented: string): Promise<string> {
  const row = await findRefreshToken(db, await sha256Hex(presented));
  if (!row || row.revokedAt !== null) throw invalidRefresh();
  return row.familyId;
}

/** Revokes sessions everywhere: D1 (source of truth), KV (what requests check), open sockets. */
export async function revokeSessions({ db, env }: DataDeps, sessionIds: string[]): Promise<void> {
  if (sessionIds.length === 0) return;
  await markSessionsRevoked(db, sessionIds, Date.now());
  await forgetSessions(env, sessionIds);
  await onSessionsRevoked({ db, env }, sessionIds);
}

export async function revokeUserSessions(deps: DataDeps, userId: string, keep?: string): Promise<void> {
  const ids = await liveSessionIds(deps.db, userId, Date.now());
  await revokeSessions(deps, ids.filter((id) => id !== keep));
}
