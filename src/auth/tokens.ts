import { SignJWT, jwtVerify, errors } from 'jose';
import { config } from '../lib/config';
import { ApiError, authErrors } from '../lib/errors';
import type { AuthUser } from '../lib/types';

const TYP = 'at+jwt';
/** The HMAC key, imported once per isolate and secret rather than on every sign and verify. */
const keys = new Map<string, Promise<CryptoKey>>();
function keyFor(env: Env): Promise<CryptoKey> {
  let key = keys.get(env.JWT_SECRET);
  if (!key) {
    const raw = new TextEncoder().encode(env.JWT_SECRET);
    key = crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
    keys.set(env.JWT_SECRET, key);
  }
  return key;
}

/** Access token: HS256, ~15 minutes, `sub` = user id, `sid` = session id. */
export async function signAccessToken(env: Env, user: AuthUser): Promise<{ token: string; expiresIn: number }> {
  const cfg = config(env);
  const token = await new SignJWT({ sid: user.sessionId })
    .setProtectedHeader({ alg: 'HS256', typ: TYP })
    .setSubject(user.id)
    .setIssuer(cfg.jwtIssuer)
    .setAudience(cfg.jwtAudience)
    .setIssuedAt()
    .setExpirationTime(`${cfg.accessTokenTtl}s`)
    .sign(await keyFor(env));
  return { token, expiresIn: cfg.accessTokenTtl };
}

/** Verifies with algorithm, issuer, audience and type pinned; throws the API's 401s. */
export async function verifyAccessToken(env: Env, token: string): Promise<AuthUser> {
  const cfg = config(env);
  try {
    const { payload } = await jwtVerify(token, await keyFor(env), {
      algorithms: ['HS256'],
      issuer: cfg.jwtIssuer,
      audience: cfg.jwtAudience,
      typ: TYP,
      requiredClaims: ['sub', 'exp', 'sid'],
    });
    if (typeof payload.sub !== 'string' || typeof payload.sid !== 'string') throw authErrors.invalid();
    return { id: payload.sub, sessionId: payload.sid };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    if (err instanceof errors.JWTExpired) throw authErrors.expired();
    throw authErrors.invalid();
  }
}
