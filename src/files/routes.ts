import { z } from '@hono/zod-openapi';
import { serveFile } from './serve';
import { EXPIRED_LINK, INVALID_LINK, requireSignedLink } from './signed-link';
import { MISSING_FILE, uploadMultipart, uploadRaw, type UploadBody } from './upload';
import { nextCursorSchema, pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, okJson, requiredString } from '../lib/router';
import { iso } from '../lib/time';
import { TASK_NOT_FOUND } from '../tasks/service';
import { WORKSPACE_NOT_FOUND } from '../workspaces/service';
import { File, fileJson, fileParams as params, linkQuery, queryParam as q, targetQuery, TTL_MSG } from './schemas';
import { FILE_NOT_FOUND, fileLink, linkedFile, listUserFiles, ownFile, removeFile } from './service';

const created = { description: 'Created', content: { 'application/json': { schema: z.object({ file: File }) } } };
const binary = { type: 'string', format: 'binary' } as const;
const download = (status: string) => ({ description: status, content: { 'application/octet-stream': { schema: binary } } });
const notFoundResponse = errorResponse(FILE_NOT_FOUND);
const uploadErrors = {
  404: errorResponse(WORKSPACE_NOT_FOUND, TASK_NOT_FOUND),
  413: errorResponse('Payload too large'),
};

const uploadBody = (req: Request): UploadBody => ({
  stream: req.body,
  contentType: req.headers.get('content-type') ?? undefined,
  contentLength: req.headers.get('content-length') ?? undefined,
});

export const fileRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'post',
      path: '/files/upload',
      tags: ['Files'],
      summary: 'Upload a file (multipart/form-data, field `file`), streamed into R2',
      operationId: 'uploadFile',
      description:
        'Uploads one file as multipart/form-data (the `file` part; its filename and content type are kept), streamed to storage, up to 95 MiB (413 past it). Optional `task_id` or `workspace_id` attach it; they must be yours (404, checked before the body is read). Answers 201 with the file and its sha256.',
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
    async (c) => {
      const row = await uploadMultipart(depsOf(c), c.get('user').id, c.req.valid('query'), uploadBody(c.req.raw));
      return c.json({ file: fileJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/files/upload',
      tags: ['Files'],
      summary: 'Upload a file as the raw body (Content-Length required), streamed into R2',
      operationId: 'uploadRawFile',
      description:
        'Uploads the request body as the file named by `name`, with its Content-Type; `Content-Length` is required (411 without it). Same limits and attachments as the multipart upload.',
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
    async (c) => {
      const row = await uploadRaw(depsOf(c), c.get('user').id, c.req.valid('query'), uploadBody(c.req.raw));
      return c.json({ file: fileJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files',
      tags: ['Files'],
      summary: "The user's files, newest first, paginated; filters task_id and workspace_id",
      operationId: 'listFiles',
      description:
        'The signed-in user\'s files, newest first, optionally only those attached to `task_id` or `workspace_id`; `limit` and `cursor` as every list.',
      request: { query: pageQuery.extend(targetQuery) },
      responses: {
        200: okJson(z.object({ files: z.array(File), next_cursor: nextCursorSchema })),
        400: errorResponse('Invalid cursor', 'limit must be an integer between 1 and 100'),
      },
    }),
    async (c) => {
      const { limit, cursor, ...target } = c.req.valid('query');
      const { items, nextCursor } = await listUserFiles(c.get('db'), c.get('user').id, target, limit, cursor);
      return c.json({ files: items.map(fileJson), next_cursor: nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}',
      tags: ['Files'],
      summary: "A file's metadata",
      operationId: 'getFile',
      description:
        'Name, size, content type, sha256 and attachments of one file. Another user\'s file is 404 `File not found`.',
      request: { params },
      responses: { 200: okJson(z.object({ file: File })), 404: notFoundResponse },
    }),
    async (c) => c.json({ file: fileJson(await ownFile(c.get('db'), c.get('user').id, c.req.valid('param').file_id)) }, 200),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}/download',
      tags: ['Files'],
      summary: 'Download a file (attachment; Range, If-Range and If-None-Match supported)',
      operationId: 'downloadFile',
      description:
        'Streams the file as an attachment with its `ETag` (the sha256). Supports one `Range` (206, or 416 when unsatisfiable), `If-Range` and `If-None-Match` (304). 404 `File not found`.',
      request: { params },
      responses: {
        200: download('The whole file'),
        206: download('The requested range'),
        304: { description: 'Not modified' },
        404: notFoundResponse,
        416: errorResponse('Range not satisfiable'),
      },
    }),
    async (c) => serveFile(c.env.BUCKET, await ownFile(c.get('db'), c.get('user').id, c.req.valid('param').file_id), c.req.raw),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/files/{file_id}/url',
      tags: ['Files'],
      summary: 'A signed download link that needs no token (default 1 hour, at most 7 days)',
      operationId: 'createFileLink',
      description:
        'A URL for `GET /files/{file_id}/content` that anyone holding it can download from without a token, until `expires_at`: `expires_in` seconds (default 3600, at most 7 days). 404 `File not found`.',
      request: {
        params,
        query: linkQuery,
      },
      responses: {
        200: okJson(z.object({ url: z.string(), expires_at: z.string() })),
        400: errorResponse(TTL_MSG),
        404: notFoundResponse,
      },
    }),
    async (c) => {
      const id = c.req.valid('param').file_id;
      const link = await fileLink(c.get('db'), c.env, c.get('user').id, id, c.req.url, c.req.valid('query').expires_in);
      return c.json({ url: link.url, expires_at: iso(link.expiresAt) }, 200);
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
        operationId: 'downloadFileByLink',
        description:
          'The download behind a link from `GET /files/{file_id}/url`: no token, the `expires` and `signature` query parameters instead. 403 `Link has expired` or `Invalid link signature` when either was changed. Same Range and caching support as the authenticated download.',
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
    async (c) => serveFile(c.env.BUCKET, await linkedFile(c.get('db'), c.req.valid('param').file_id), c.req.raw),
  )
  .openapi(
    defineRoute('bearer', {
      method: 'delete',
      path: '/files/{file_id}',
      tags: ['Files'],
      summary: 'Delete a file (its R2 object goes right after; the cron retries failures)',
      operationId: 'deleteFile',
      description:
        'Deletes the file; its stored bytes are removed right after the response (retried by the cron trigger if that fails). Links to it stop working. 404 `File not found`.',
      request: { params },
      responses: { 200: okJson(z.object({ msg: z.string() })), 404: notFoundResponse },
    }),
    async (c) => {
      await removeFile(depsOf(c), c.get('user').id, c.req.valid('param').file_id);
      return c.json({ msg: 'File deleted' }, 200);
    },
  );
