/**
 * The two upload paths (multipart form and raw body) share one protocol: the R2 key is queued
 * for cleanup before a byte is written, and one batch inserts the row and drops that job once
 * the object is complete, so any failure in between is swept by the cron trigger.
 */
import { jobId, runJobsSoon } from '../outbox/outbox';
import { commitFile, registerPendingObject, type FileRow } from './queries';
import type { Db } from '../db/client';
import { config } from '../lib/config';
import { ApiError, badRequest, payloadTooLarge } from '../lib/errors';
import { newId } from '../lib/ids';
import { ownTask } from '../tasks/service';
import { ownWorkspace } from '../workspaces/service';
import { formDataBoundary, MultipartError, MultipartReader, MultipartTooLarge } from './multipart';
import { normalizeContentType, sanitizeFilename } from './names';
import { putFixedLength, R2StreamWriter, type Stored } from './r2-upload';
import type { Target } from './schemas';
import type { Deps } from '../lib/types';

export const MISSING_FILE = 'Missing file parameter';
/** Room for the form's boundaries, part headers and small extra fields around the file. */
const FORM_OVERHEAD = 64 * 1024;
/** An upload still running after this long is dead; the sweep may delete its object. */
const PENDING_MS = 3600_000;

/** The parts of the request an upload reads: its body stream and two headers. */
export interface UploadBody {
  stream: ReadableStream<Uint8Array> | null;
  contentType: string | undefined;
  contentLength: string | undefined;
}

type Placement = Pick<FileRow, 'taskId' | 'workspaceId'>;

/**
 * The task and workspace a file will belong to, checked before the body is read: another user's
 * or an unknown one is a 404. A task's file lands in the task's workspace unless one is given.
 */
async function resolveTarget(db: Db, userId: string, q: Target): Promise<Placement> {
  const workspaceId = q.workspace_id ? (await ownWorkspace(db, userId, q.workspace_id)).id : null;
  if (!q.task_id) return { taskId: null, workspaceId };
  const task = await ownTask(db, userId, q.task_id);
  if (workspaceId && task.workspaceId && task.workspaceId !== workspaceId) {
    throw badRequest('The task is not in that workspace', 'task_workspace_mismatch');
  }
  return { taskId: task.id, workspaceId: workspaceId ?? task.workspaceId };
}

function declaredLength(body: UploadBody): number | null {
  const raw = body.contentLength?.trim();
  return raw && /^\d{1,15}$/.test(raw) ? Number(raw) : null;
}

/** Queues the key, stores the object, commits the row; on failure cleans up right away. */
async function storeAndCommit(
  { db, env, waitUntil }: Deps,
  userId: string,
  q: Target,
  meta: Placement & { name: string; contentType: string },
  store: (key: string) => Promise<Stored>,
): Promise<FileRow> {
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
      await resolveTarget(db, userId, q);
      throw err;
    }
  } catch (err) {
    runJobsSoon(env, waitUntil, [jobId('r2_object', key)]);
    throw err;
  }
}

/** POST: the first `file` part of a multipart/form-data body; other fields are read past. */
export async function uploadMultipart(deps: Deps, userId: string, q: Target, body: UploadBody): Promise<FileRow> {
  const target = await resolveTarget(deps.db, userId, q);
  const max = config(deps.env).fileMaxBytes;
  const boundary = formDataBoundary(body.contentType);
  if (!boundary) throw badRequest('Content-Type must be multipart/form-data with a boundary', 'invalid_content_type');
  const length = declaredLength(body);
  if (length !== null && length > max + FORM_OVERHEAD) throw payloadTooLarge();
  if (!body.stream || length === 0) throw badRequest(MISSING_FILE, 'missing_file');
  const reader = new MultipartReader(body.stream, boundary, max + FORM_OVERHEAD);
  try {
    let part = await reader.nextPart();
    while (part && part.name !== 'file') part = await reader.nextPart();
    if (!part) throw badRequest(MISSING_FILE, 'missing_file');
    const contentType = normalizeContentType(part.contentType);
    const meta = { ...target, name: sanitizeFilename(part.filename), contentType };
    return await storeAndCommit(deps, userId, q, meta, async (key) => {
      const writer = new R2StreamWriter(deps.env.BUCKET, key, { contentType }, max);
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
export async function uploadRaw(deps: Deps, userId: string, q: Target & { name: string }, body: UploadBody): Promise<FileRow> {
  const target = await resolveTarget(deps.db, userId, q);
  const length = declaredLength(body);
  if (length === null) throw new ApiError(411, 'length_required', 'Content-Length required');
  if (length > config(deps.env).fileMaxBytes) throw payloadTooLarge();
  const contentType = normalizeContentType(body.contentType);
  const meta = { ...target, name: sanitizeFilename(q.name), contentType };
  return storeAndCommit(deps, userId, q, meta, (key) => putFixedLength(deps.env.BUCKET, key, body.stream, length, { contentType }));
}
