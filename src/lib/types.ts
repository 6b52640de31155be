import type { DrizzleD1Database } from 'drizzle-orm/d1';
import type * as schema from '../db/schema';

/** The drizzle client; `$client` is the raw D1 binding for the few statements drizzle cannot batch. */
export type Db = DrizzleD1Database<typeof schema> & { $client: D1Database };

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
