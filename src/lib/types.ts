import type { Db } from '../db/client';

/** The signed-in caller, set by the auth middleware. */
export interface AuthUser {
  id: string;
  sessionId: string;
}

/**
 * What a service needs besides its input: the database, the bindings, and a way to finish work
 * after the response. Services take this (or the part they use), never a Hono Context; routes
 * build it with `depsOf(c)` (lib/router.ts) and the cron trigger from its own context.
 */
export interface Deps {
  db: Db;
  env: Env;
  waitUntil: (p: Promise<unknown>) => void;
}
export type DataDeps = Pick<Deps, 'db' | 'env'>;

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Db;
    user: AuthUser;
    /** What the bearer token said, verified once per request (see auth/middleware.ts). */
    token: { user: AuthUser } | { error: Error } | null;
  };
}
