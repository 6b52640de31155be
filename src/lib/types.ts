import type { Db } from '../db/client';

/** The signed-in caller, set by the auth middleware. */
export interface AuthUser {
  id: string;
  sessionId: string;
}

export interface AppEnv {
  Bindings: Env;
  Variables: {
    requestId: string;
    db: Db;
    user: AuthUser;
    /** What the bearer token said, verified once per request (see middleware/auth.ts). */
    token: { user: AuthUser } | { error: Error } | null;
  };
}
