import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { runCleanupJobs } from '../outbox/outbox';
import { deleteFile, findFile, findOwnedFile, listFiles, type FileRow } from './queries';
import { FILE_NOT_FOUND, serveFile } from './serve';
import { EXPIRED_LINK, INVALID_LINK, linkPath, MAX_LINK_TTL_SECONDS, requireSignedLink } from './signed-link';
import { MISSING_FILE, TASK_NOT_FOUND, uploadMultipart, uploadRaw } from './upload';
import { config } from '../lib/config';
import { notFound } from '../lib/errors';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { AppEnv } from '../lib/types';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';

export const File = z
  .object({
    file_id: z.string(),
    name: z.string(),
    size: z.number().int(),
    content_type: z.string(),
    sha256: z.string(),
    created_at: z.string(),
    task_id: z.string().nullable(),
    workspace_id: z.string().nullable(),
  })
  .openapi('File');

export const fileJson = (f: FileRow) => ({
  file_id: f.id,
  name: f.name,
  size: f.size,
  content_type: f.contentType,
  sha256: f.sha256,
  created_at: iso(f.createdAt),
  task_id: f.taskId,
  workspace_id: f.workspaceId,
});

const q = (name: string) => z.string().optional().openapi({ param: { name, in: 'query' } });
const targetQuery = { task_id: q('task_id'), workspace_id: q('workspace_id') };
const params = z.object({ file_id: z.string().openapi({ param: { name: 'file_id', in: 'path' } }) });
const created = { description: 'Created', content: { 'application/json': { schema: z.object({ file: File }) } } };
const binary = { type: 'string', format: 'binary' } as const;
const download = (status: string) => ({ description: status, content: { 'application/octet-stream': { schema: binary } } });
const notFoundResponse = errorResponse(FILE_NOT_FOUND);
const uploadErrors = {
  404: errorResponse(WORKSPACE_NOT_FOUND, TASK_NOT_FOUND),
  413: errorResponse('Payload too large'),
};
const TTL_MSG = `expires_in must be an integer between 1 and ${MAX_LINK_TTL_SECONDS} seconds`;

async function owned(c: Context<AppEnv>, id: string): Promise<FileRow> {
  const f = await findOwnedFile(c.get('db'), c.get('user').id, id);
  if (!f) throw notFound(FILE_NOT_FOUND, 'file_not_found');
  return f;
}

export const fileRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/files/upload',
      tags: ['Files'],
      summary: 'Upload a file (multipart/form-data, field `file`), streamed into R2',
      request: {
        query: z.object(targetQuery),
        body: {
          required: true,
          content: { 'multipart/form-data': { schema: { type: 'object', properties: { file: binary }, required: ['file'] } } },
        },
      },
      responses: {
        201: created,
        400: errorResponse(MISSING_FILE, 'Content-Type must be multipart/form-data with a boundary', 'Malformed multipart body: ...'),
        ...uploadErrors,
      },
    }),
    async (c) => c.json({ file: fileJson(await uploadMultipart(c, c.req.valid('query'))) }, 201),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/files/upload',
      tags: ['Files'],
      summary: 'Upload a file as the raw body (Content-Length required), streamed into R2',
      request: {
        query: z.object({ name: requiredString('Missing name parameter').openapi({ param: { name: 'name', in: 'query' } }), ...targetQuery }),
        body: { required: true, content: { 'application/octet-stream': { schema: binary } } },
      },
      responses: {
        201: created,
        400: errorResponse('Missing name parameter'),
        411: errorResponse('Content-Length required'),
        ...uploadErrors,
      },
    }),
    async (c) => c.json({ file: fileJson(await uploadRaw(c, c.req.valid('query'))) }, 201),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files',
      tags: ['Files'],
      summary: "The user's files, newest first, paginated; filters task_id and workspace_id",
      request: { query: pageQuery.extend(targetQuery) },
      responses: {
        200: okJson(z.object({ files: z.array(File), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor, task_id, workspace_id } = c.req.valid('query');
      const rows = await listFiles(c.get('db'), c.get('user').id, { taskId: task_id, workspaceId: workspace_id }, limit, cursor);
      const { items, nextCursor } = page(rows, limit);
      return c.json({ files: items.map(fileJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}',
      tags: ['Files'],
      summary: "A file's metadata",
      request: { params },
      responses: { 200: okJson(z.object({ file: File })), 404: notFoundResponse },
    }),
    async (c) => c.json({ file: fileJson(await owned(c, c.req.valid('param').file_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}/download',
      tags: ['Files'],
      summary: 'Download a file (attachment; Range, If-Range and If-None-Match supported)',
      request: { params },
      responses: {
        200: download('The whole file'),
        206: download('The requested range'),
        304: { description: 'Not modified' },
        404: notFoundResponse,
        416: errorResponse('Range not satisfiable'),
      },
    }),
    async (c) => serveFile(c.env.BUCKET, await owned(c, c.req.valid('param').file_id), c.req.raw),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}/url',
      tags: ['Files'],
      summary: 'A signed download link that needs no token (default 1 hour, at most 7 days)',
      request: {
        params,
        query: z.object({
          expires_in: z.coerce
            .number({ error: TTL_MSG })
            .int({ error: TTL_MSG })
            .min(1, { error: TTL_MSG })
            .max(MAX_LINK_TTL_SECONDS, { error: TTL_MSG })
            .optional()
            .openapi({ param: { name: 'expires_in', in: 'query' } }),
        }),
      },
      responses: {
        200: okJson(z.object({ url: z.string(), expires_at: z.string() })),
        400: errorResponse(TTL_MSG),
        404: notFoundResponse,
      },
    }),
    async (c) => {
      const f = await owned(c, c.req.valid('param').file_id);
      const ttl = c.req.valid('query').expires_in ?? Math.min(config(c.env).signedLinkTtl, MAX_LINK_TTL_SECONDS);
      const expires = Math.floor(Date.now() / 1000) + ttl;
      const url = new URL(await linkPath(c.env, f.id, expires), c.req.url).toString();
      return c.json({ url, expires_at: iso(expires * 1000) }, 200);
    },
  )
  .openapi(
    defineRoute(
      'signed-link',
      {
        method: 'get',
        path: '/files/{file_id}/content',
        tags: ['Files'],
        summary: 'Download through a signed link from GET /files/{file_id}/url (no token)',
        request: {
          params,
          query: z.object({ expires: q('expires'), signature: q('signature') }),
        },
        responses: {
          200: download('The whole file'),
          206: download('The requested range'),
          304: { description: 'Not modified' },
          403: errorResponse(INVALID_LINK, EXPIRED_LINK),
          404: notFoundResponse,
          416: errorResponse('Range not satisfiable'),
        },
      },
      { authMiddleware: requireSignedLink },
    ),
    async (c) => {
      const f = await findFile(c.get('db'), c.req.valid('param').file_id);
      if (!f) throw notFound(FILE_NOT_FOUND, 'file_not_found');
      return serveFile(c.env.BUCKET, f, c.req.raw);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/files/{file_id}',
      tags: ['Files'],
      summary: 'Delete a file (its R2 object goes right after; the cron retries failures)',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: notFoundResponse },
    }),
    async (c) => {
      const f = await owned(c, c.req.valid('param').file_id);
      const job = await deleteFile(c.get('db'), f, Date.now());
      c.executionCtx.waitUntil(runCleanupJobs(c.env, [job]));
      return c.json({ msg: 'File deleted' }, 200);
    },
  );
