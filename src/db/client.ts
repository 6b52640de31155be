import { drizzle } from 'drizzle-orm/d1';
import * as schema from './schema';
import type { Db } from '../lib/types';

/** The one place the D1 binding becomes a drizzle client. */
export const getDb = (env: Env): Db => drizzle(env.DB, { schema });
