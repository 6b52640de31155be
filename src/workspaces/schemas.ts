import { z } from '@hono/zod-openapi';
import { requiredString } from '../lib/router';
import { iso } from '../lib/time';
import type { Workspace as WorkspaceRecord } from './queries';

export const Workspace = z
  .object({
    workspace_id: z.string(),
    id: z.string().openapi({ description: 'The same as workspace_id (the upstream contract allows extra fields; its Socket.IO client reads `id`)' }),
    name: z.string(),
    owner: z.string(),
    created_at: z.string(),
    agents: z.array(z.string()),
  })
  .openapi('Workspace');

export const workspaceJson = (w: WorkspaceRecord) => ({
  workspace_id: w.id,
  id: w.id,
  name: w.name,
  owner: w.ownerId,
  created_at: iso(w.createdAt),
  agents: w.agents,
});

const NAME_MAX = 200;
export const MISSING_NAME = 'Missing name parameter';
const nameSchema = requiredString(MISSING_NAME).max(NAME_MAX, { error: `name must be at most ${NAME_MAX} characters` });

export const createWorkspaceBody = z.object({ name: nameSchema.optional() }).openapi({ example: { name: 'Research' } });
export const renameWorkspaceBody = z.object({ name: nameSchema }).openapi({ example: { name: 'Research archive' } });
export const workspaceParams = z.object({ workspace_id: z.string().openapi({ param: { name: 'workspace_id', in: 'path' } }) });
export const Msg = z.object({ msg: z.string() });
