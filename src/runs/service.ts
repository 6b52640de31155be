import type { Db } from '../db/client';
import { notFound } from '../lib/errors';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { findUserRun, listUserRuns, type RunFilters, type RunRow } from './queries';

/**
 * The runs area's logic for its routes (src/runs/routes.ts). Runs are written by the chat's
 * Durable Object (queries.ts upsertRun), never by these routes: here they are only read.
 */
export const RUN_NOT_FOUND = 'Run not found';
const runNotFound = () => notFound(RUN_NOT_FOUND, 'run_not_found');

/** The caller's run, or 404 `Run not found` (another user's and a malformed id look unknown). */
export async function ownRun(db: Db, userId: string, runId: string): Promise<RunRow> {
  return owned(await findUserRun(db, userId, runId), userId, runNotFound);
}

/** A page of the caller's runs, newest first; a filter on another user's agent or chat answers an empty page. */
export async function listRuns(db: Db, userId: string, q: RunFilters & { limit: number; cursor?: string }) {
  const { limit, cursor, ...filters } = q;
  return page(await listUserRuns(db, userId, filters, limit, cursor), limit);
}
