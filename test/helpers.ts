import { env, exports } from 'cloudflare:workers';
import { expect } from 'vitest';

export const BASE = 'http://agentedge.test';

export interface Json {
  [key: string]: any;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request through the Worker's own fetch handler, against the real local bindings. */
export async function call(method: string, path: string, opts: CallOptions = {}) {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: BodyInit | undefined;
  if (opts.body !== undefined) {
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await exports.default.fetch(new Request(BASE + path, { method, headers, body }));
  const text = new TextDecoder().decode(await res.arrayBuffer());
  let json: Json = {};
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { _text: text };
  }
  return { status: res.status, headers: res.headers, json, text };
}

let counter = 0;
export const uniqueEmail = (prefix = 'user') => `${prefix.toLowerCase()}-${Date.now()}-${++counter}-${Math.random().toString(36).slice(2, 8)}@example.com`;

export interface TestUser {
  email: string;
  password: string;
  token: string;
  refreshToken: string;
  userId: string;
}

/** Registers and logs in a fresh user. */
export async function newUser(prefix = 'user'): Promise<TestUser> {
  const email = uniqueEmail(prefix);
  const password = 'correct horse battery';
  const reg = await call('POST', '/register', { body: { email, password } });
  expect(reg.status).toBe(200);
  const login = await call('POST', '/auth/login', { body: { email, password } });
  expect(login.status).toBe(200);
  const me = await call('GET', '/user', { token: login.json.access_token });
  return { email, password, token: login.json.access_token, refreshToken: login.json.refresh_token, userId: me.json.user.user_id };
}

/** Sets vars on the shared env for the length of `fn` (the Worker reads them per request). */
export async function withVars<T>(vars: Partial<Record<keyof Env, string>>, fn: () => Promise<T>): Promise<T> {
  const saved: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(vars)) {
    saved[k] = (env as any)[k];
    (env as any)[k] = v;
  }
  try {
    return await fn();
  } finally {
    Object.assign(env as any, saved);
  }
}

/** Asserts docs/conventions.md's error shape and, when given, the exact status and `msg`. */
export function expectError(res: { status: number; json: Json }, status: number, msg?: string) {
  expect(res.status).toBe(status);
  expect(typeof res.json.msg).toBe('string');
  expect(typeof res.json.code).toBe('string');
  expect(res.json).toHaveProperty('request_id');
  if (msg !== undefined) expect(res.json.msg).toBe(msg);
}
