import { z } from '@hono/zod-openapi';
import { iso } from '../lib/time';
import type { FileRow } from './queries';
import { MAX_LINK_TTL_SECONDS } from './signed-link';

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

export const queryParam = (name: string) => z.string().optional().openapi({ param: { name, in: 'query' } });
/** Where an upload goes, and the list filters. */
export const targetQuery = { task_id: queryParam('task_id'), workspace_id: queryParam('workspace_id') };
export type Target = { task_id?: string; workspace_id?: string };

export const fileParams = z.object({ file_id: z.string().openapi({ param: { name: 'file_id', in: 'path' } }) });

export const TTL_MSG = `expires_in must be an integer between 1 and ${MAX_LINK_TTL_SECONDS} seconds`;
export const linkQuery = z.object({
  expires_in: z.coerce
    .number({ error: TTL_MSG })
    .int({ error: TTL_MSG })
    .min(1, { error: TTL_MSG })
    .max(MAX_LINK_TTL_SECONDS, { error: TTL_MSG })
    .optional()
    .openapi({ param: { name: 'expires_in', in: 'query' } }),
});
