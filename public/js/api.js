// @ts-check
// The API as the chat page calls it: the tokens of the session (sessionStorage), one fetch
// wrapper that refreshes an expired access token once, and the errors a person is shown. A 401
// that means the session is gone ends it through the handler given to onSessionEnded.

/** @typedef {{ access_token: string, refresh_token: string }} Tokens */

const TOKENS = 'agentedge.tokens';
/** The 401 codes that mean the session itself is gone (docs/conventions.md, "Auth kinds"). */
const SESSION_GONE = new Set(['missing_token', 'token_expired', 'invalid_token', 'session_revoked']);

/** @returns {Tokens | null} */
export const loadTokens = () => JSON.parse(sessionStorage.getItem(TOKENS) ?? 'null');
export const saveTokens = (/** @type {Tokens | null} */ t) => (t ? sessionStorage.setItem(TOKENS, JSON.stringify(t)) : sessionStorage.removeItem(TOKENS));

/** Bumped on every sign-in and sign-out: an answer to a request of an earlier session is dropped. */
let epoch = 0;
export const newEpoch = () => void epoch++;

/** What signs the page out when the session is gone (set once by chat.js). */
let sessionEndedHandler = () => {};
export const onSessionEnded = (/** @type {() => void} */ handler) => void (sessionEndedHandler = handler);
/** The session was revoked or expired under us (a 401 here, or a socket closed with 4401). */
export const sessionEnded = () => sessionEndedHandler();

export class ApiError extends Error {
  constructor(/** @type {number} */ status, /** @type {any} */ body) {
    super(body?.msg ?? `The server answered ${status}.`);
    this.status = status;
    /** @type {string | undefined} */
    this.code = body?.code;
  }
}
/** A request that belonged to a session that has since ended; nobody is told about it. */
export class Stale extends Error {}

/**
 * One API call; an expired access token is refreshed once, transparently. A 401 that means the
 * session is gone signs the page out.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function api(method, path, body, retried = false) {
  const started = epoch;
  const tokens = loadTokens();
  /** @type {Record<string, string>} */
  const headers = {};
  if (tokens) headers.authorization = `Bearer ${tokens.access_token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await send(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const json = await res.json().catch(() => ({}));
  if (epoch !== started) throw new Stale();
  if (res.status === 401 && json.code === 'token_expired' && tokens && !retried) {
    const refreshed = await send('/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ refresh_token: tokens.refresh_token }),
    });
    if (epoch !== started) throw new Stale();
    if (refreshed.ok) {
      saveTokens(await refreshed.json());
      return api(method, path, body, true);
    }
  }
  if (res.status === 401 && tokens && SESSION_GONE.has(json.code)) {
    sessionEnded();
    throw new Stale();
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

/** fetch, with a network failure turned into an error a person can read. */
async function send(/** @type {string} */ path, /** @type {RequestInit} */ init) {
  try {
    return await fetch(path, init);
  } catch {
    throw new ApiError(0, { msg: 'Cannot reach the server. Check your connection and try again.' });
  }
}

/** Prefixes an error with what was being done, for the person reading it. */
export async function doing(/** @type {string} */ what, /** @type {Promise<any>} */ promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError) err.message = `${what}: ${err.message}`;
    throw err;
  }
}
