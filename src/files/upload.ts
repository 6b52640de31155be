/**
 * The two upload paths (multipart form and raw body) share one protocol: the R2 key is queued
 * for cleanup before a byte is written, and one batch inserts the row and drops that job once
 * the object is complete, so any failure in between is swept by the cron trigger.
 */
import type { Context } from 'hono';
import { jobId, runCleanupJobs } from '../outbox/outbox';
import { commitFile, registerPendingObject, type FileRow } from './queries';
import { config } from '../lib/config';
import { ApiError, badRequest, notFound, payloadTooLarge } from '../lib/errors';
import { newId } from '../lib/ids';
import type { AppEnv } from '../lib/types';
import { findTask } from '../tasks/queries';
import { ownWorkspace } from '../workspaces/service';
import { formDataBoundary, MultipartError, MultipartReader, MultipartTooLarge } from './multipart';
import { normalizeContentType, sanitizeFilename } from './names';
import { putFixedLength, R2StreamWriter, type Stored } from './r2-upload';

export const MISSING_FILE = 'Missing file parameter';
export const TASK_NOT_FOUND = 'Task not found';
/** Room for the form's boundaries, part headers and small extra fields around the file. */
const FORM_OVERHEAD = 64 * 1024;
/** An upload still running after this long is dead; the sweep may delete its object. */
const PENDING_MS = 3600_000;

type Query = { task_id?: string; workspace_id?: string };

export interface Target {
  taskId: string | null;
  workspaceId: string | null;
}

/**
 * The task and workspace a file will belong to, checked before the body is read: another user's
 * or an unknown one is a 404. A task's file lands in the task's workspace unless one is given.
 */
export async function resolveTarget(c: Context<AppEnv>, q: Query): Promise<Target> {
  const db = c.get('db');
  const userId = c.get('user').id;
  const workspaceId = q.workspace_id
    ? (await ownWorkspace(db, userId, q.workspace_id)).id
    : null;
  if (!q.task_id) return { taskId: null, workspaceId };
  const task = await findTask(db, userId, q.task_id);
  if (!task) throw notFound(TASK_NOT_FOUND, 'task_not_found');
  if (workspaceId && task.workspaceId && task.workspaceId !== workspaceId) {
    throw badRequest('The task is not in that workspace', 'task_workspace_mismatch');
  }
  return { taskId: task.id, workspaceId: workspaceId ?? task.workspaceId };
}

function declaredLength(c: Context<AppEnv>): number | null {
  const raw = c.req.header('content-length');
  return raw && /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : null;
}

/** Queues the key, stores the object, commits the row; on failure cleans up right away. */
async function storeAndCommit(
  c: Context<AppEnv>,
  q: Query,
  meta: Target & { name: string; contentType: string },
  store: (key: string) => Promise<Stored>,
): Promise<FileRow> {
  const db = c.get('db');
  const userId = c.get('user').id;
  const id = newId();
  const key = `files/${userId}/${id}`;
  const now = Date.now();
  await registerPendingObject(db, key, now, now + PENDING_MS);
  try {
    const stored = await store(key);
    const row = { id, userId, ...meta, r2Key: key, ...stored, createdAt: Date.now() };
    try {
      return await commitFile(db, row);
    } catch (err) {
      // The task or workspace may have been deleted while the bytes were arriving: that is a 404.
      await resolveTarget(c, q);
      throw err;
    }
  } catch (err) {
    c.executionCtx.waitUntil(runCleanupJobs(c.env, [jobId('r2_object', key)]));
    throw err;
  }
}

/** POST: the first `file` part of a multipart/form-data body; other fields are read past. */
export async function uploadMultipart(c: Context<AppEnv>, q: Query): Promise<FileRow> {
  const target = await resolveTarget(c, q);
  const max = config(c.env).fileMaxBytes;
  const boundary = formDataBoundary(c.req.header('content-type'));
  if (!boundary) throw badRequest('Content-Type must be multipart/form-data with a boundary', 'invalid_content_type');
  const length = declaredLength(c);
  if (length !== null && length > max + FORM_OVERHEAD) throw payloadTooLarge();
  const body = c.req.raw.body;
  if (!body || length === 0) throw badRequest(MISSING_FILE, 'missing_file');
  const reader = new MultipartReader(body, boundary, max + FORM_OVERHEAD);
  try {
    let part = await reader.nextPart();
    while (part && part.name !== 'file') part = await reader.nextPart();
    if (!part) throw badRequest(MISSING_FILE, 'missing_file');
    const contentType = normalizeContentType(part.contentType);
    const meta = { ...target, name: sanitizeFilename(part.filename), contentType };
    return await storeAndCommit(c, q, meta, async (key) => {
      const writer = new R2StreamWriter(c.env.BUCKET, key, { contentType }, max);
      try {
        await reader.readBody((chunk) => writer.write(chunk));
        while (await reader.nextPart());
        return await writer.finish();
      } catch (err) {
        await writer.abort();
        throw err;
      }
    });
  } catch (err) {
    if (err instanceof MultipartTooLarge) throw payloadTooLarge();
    if (err instanceof MultipartError) throw badRequest(`Malformed multipart body: ${err.message}`, 'malformed_multipart');
    throw err;
  } finally {
    await reader.cancel();
  }
}

/** PUT: the raw body is the file; Content-Length is required so R2 gets a fixed-length stream. */
export async function uploadRaw(c: Context<AppEnv>, q: Query & { name: string }): Promise<FileRow> {
  const target = await resolveTarget(c, q);
  const length = declaredLength(c);
  if (length === null) throw new ApiError(411, 'length_required', 'Content-Length required');
  if (length > config(c.env).fileMaxBytes) throw payloadTooLarge();
  const contentType = normalizeContentType(c.req.header('content-type'));
  const meta = { ...target, name: sanitizeFilename(q.name), contentType };
  return storeAndCommit(c, q, meta, (key) => putFixedLength(c.env.BUCKET, key, c.req.raw.body, length, { contentType }));
}
