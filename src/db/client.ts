import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import * as schema from './schema';

/** The drizzle client; `$client` is the raw D1 binding for the few statements drizzle cannot batch. */
export type Db = DrizzleD1Database<typeof schema> & { $client: D1Database };

const clients = new WeakMap<D1Database, Db>();

/**
 * The one place the D1 binding becomes a drizzle client: made once per binding object, because
 * drizzle builds its relational config from the whole schema on every `drizzle()` call (a cost
 * the agents benchmark found on every request and every run). A test that wraps env.DB (fault
 * injection) is a new binding object, so it gets its own client.
 */
export function getDb(env: Env): Db {
  let db = clients.get(env.DB);
  if (!db) clients.set(env.DB, (db = drizzle(env.DB, { schema })));
  return db;
}
