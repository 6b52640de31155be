/**
 * The SESSIONS KV namespace: one key per live session, written at login, deleted on revocation,
 * read by every bearer request and by the chat object before it accepts a socket. The one place
 * that binding is used, so the auth area and the chat object share it without importing each
 * other.
 */
const kvKey = (sessionId: string) => `session:${sessionId}`;

/**
 * Sessions this isolate saw live in KV in the last second. A busy client's requests then cost one
 * KV read a second instead of one each; a revocation clears the entry here at once, and other
 * isolates and locations already wait on KV's own propagation (up to ~60 s), which a second does
 * not change.
 */
const LIVE_CACHE_MS = 1000;
const seenLive = new Map<string, number>();

export async function markSessionLive(env: Env, sessionId: string, userId: string, expiresAt: number, ttlSeconds: number) {
  await env.SESSIONS.put(kvKey(sessionId), JSON.stringify({ user_id: userId, expires_at: expiresAt }), {
    expirationTtl: Math.max(60, ttlSeconds),
  });
}

/** `fresh` skips this isolate's one-second memory (the chat object's connect check). */
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

export async function forgetSessions(env: Env, sessionIds: string[]) {
  for (const id of sessionIds) seenLive.delete(id);
  await Promise.all(sessionIds.map((id) => env.SESSIONS.delete(kvKey(id))));
}
