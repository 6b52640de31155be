import { deleteFile, findFile, listFiles, type FileRow } from './queries';
import { linkPath, MAX_LINK_TTL_SECONDS } from './signed-link';
import type { Db } from '../db/client';
import { config } from '../lib/config';
import { notFound } from '../lib/errors';
import { owned } from '../lib/ownership';
import { page } from '../lib/pagination';
import { runJobsSoon } from '../outbox/outbox';
import type { Target } from './schemas';
import type { Deps } from '../lib/types';

export const FILE_NOT_FOUND = 'File not found';
export const fileNotFound = () => notFound(FILE_NOT_FOUND, 'file_not_found');

/** The caller's file, or 404 `File not found` (another user's looks unknown). */
export async function ownFile(db: Db, userId: string, id: string): Promise<FileRow> {
  return owned(await findFile(db, id), userId, fileNotFound);
}

/** The file a verified signed link names, whoever owns it (the link is the authorization). */
export async function linkedFile(db: Db, id: string): Promise<FileRow> {
  const f = await findFile(db, id);
  if (!f) throw fileNotFound();
  return f;
}

export async function listUserFiles(db: Db, userId: string, q: Target, limit: number, cursor?: string) {
  return page(await listFiles(db, userId, { taskId: q.task_id, workspaceId: q.workspace_id }, limit, cursor), limit);
}

/** A signed download link for `origin`, valid `expiresIn` seconds (default SIGNED_LINK_TTL_SECONDS). */
export async function fileLink(db: Db, env: Env, userId: string, id: string, origin: string, expiresIn?: number) {
  const f = await ownFile(db, userId, id);
  const ttl = expiresIn ?? Math.min(config(env).signedLinkTtl, MAX_LINK_TTL_SECONDS);
  const expires = Math.floor(Date.now() / 1000) + ttl;
  return { url: new URL(await linkPath(env, f.id, expires), origin).toString(), expiresAt: expires * 1000 };
}

/** The row goes now; its R2 object right after (the cron sweep retries a failure). */
export async function removeFile({ db, env, waitUntil }: Deps, userId: string, id: string): Promise<void> {
  const f = await ownFile(db, userId, id);
  runJobsSoon(env, waitUntil, [await deleteFile(db, f, Date.now())]);
}
