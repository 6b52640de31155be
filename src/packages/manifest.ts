import { z } from '@hono/zod-openapi';
import { ApiError } from '../lib/errors';
import { requiredString } from '../lib/router';
import { isSemver, VERSION_MAX_LENGTH } from './semver';
import { MCP_ENTRY, toolKind } from '../tools/names';

export const MANIFEST_FILE = 'agent.json';

/** Lower case, so two names never differ only in case (no look-alike squatting). */
export const PACKAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export const packageNameSchema = z.string().regex(PACKAGE_NAME, {
  error: 'Invalid package name: 1-100 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit',
});
export const versionSchema = z
  .string()
  .max(VERSION_MAX_LENGTH, { error: `Invalid version: at most ${VERSION_MAX_LENGTH} characters` })
  .refine(isSemver, { error: 'Invalid version: expected a semantic version such as 1.2.3' });

/**
 * One `tools` entry (src/tools/names.ts): a built-in or MCP tool is `{"name", "requires_approval"?}`
 * (a call waits for a person's approval, POST /approvals/{approval_id}/approve); any other name is
 * a client tool, `{"name", "description"?, "parameters"?}`, whose calls the client answers.
 */
export const Tool = z
  .object({
    name: requiredString('tools[].name is required').max(100),
    description: z.string().max(4000).optional(),
    /** A JSON Schema object for the tool's arguments. */
    parameters: z.record(z.string(), z.unknown()).optional(),
    requires_approval: z.boolean({ error: 'tools[].requires_approval must be a boolean' }).optional(),
  })
  .superRefine((t, ctx) => {
    const kind = toolKind(t.name);
    if (kind === 'mcp' && !MCP_ENTRY.test(t.name)) {
      ctx.addIssue({ code: 'custom', path: ['name'], message: `tools[].name ${JSON.stringify(t.name)}: an MCP tool is mcp:<server-slug>:<tool> (the mcp: prefix is reserved)` });
    }
    if (kind !== 'client' && t.parameters !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['parameters'], message: `tools[].parameters: ${t.name} is a ${kind === 'mcp' ? 'MCP' : 'built-in'} tool, whose parameters are its own` });
    }
    if (kind === 'client' && t.requires_approval !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['requires_approval'], message: `tools[].requires_approval: ${t.name} is a client tool (its calls are answered by the client, which decides)` });
    }
  });

const Model = z.object(
  {
    provider: z.string().max(100).optional(),
    name: requiredString('model.name is required').max(200),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().min(0).max(1).optional(),
    max_tokens: z.number().int().positive().optional(),
  },
  { error: 'model is required' },
);

/** The agent as a catalogue stores it; unknown fields are dropped. */
export const AgentDefinition = z
  .object({
    system_prompt: requiredString('system_prompt is required'),
    model: Model,
    tools: z
      .array(Tool)
      .max(100)
      .default([])
      .refine((tools) => new Set(tools.map((t) => t.name)).size === tools.length, { error: 'tools[].name must be unique' }),
  })
  .openapi('AgentDefinition');

export const Manifest = AgentDefinition.extend({
  name: z.string({ error: 'name is required' }),
  version: z.string({ error: 'version is required' }),
  description: z.string({ error: 'description is required' }).max(2000),
});
export type Manifest = z.infer<typeof Manifest>;

const bad = (msg: string, extra?: Record<string, unknown>) => new ApiError(400, 'invalid_manifest', msg, extra);

/** Parses agent.json and holds it to the path it was published under. */
export function parseManifest(bytes: Uint8Array | null, name: string, version: string): Manifest {
  if (!bytes) throw bad(`Package has no ${MANIFEST_FILE} at its root`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes));
  } catch {
    throw bad(`${MANIFEST_FILE} is not valid JSON`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw bad(`${MANIFEST_FILE} must be a JSON object`);
  const parsed = Manifest.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const first = issues[0];
    throw bad(`Invalid ${MANIFEST_FILE}: ${first.path ? `${first.path}: ` : ''}${first.message}`, { issues });
  }
  const m = parsed.data;
  if (m.name !== name) throw bad(`${MANIFEST_FILE} name "${m.name.slice(0, 100)}" does not match the package name "${name}"`);
  if (m.version !== version) {
    throw bad(`${MANIFEST_FILE} version "${m.version.slice(0, 100)}" does not match the published version "${version}"`);
  }
  return m;
}

