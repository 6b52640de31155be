import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import * as schema from './schema';

/** The drizzle client; `$client` is the raw D1 binding for the few statements drizzle cannot batch. */
export type Db = DrizzleD1Database<typeof schema> & { $client: D1Database };

/** The one place the D1 binding becomes a drizzle client. */
export const getDb = (env: Env): Db => drizzle(env.DB, { schema });
