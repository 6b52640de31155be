import { z } from '@hono/zod-openapi';
import { nextCursorSchema } from '../lib/pagination';
import { iso } from '../lib/time';
import { packageNameSchema, versionSchema } from './manifest';
import type { PackageRow, PackageVersionRow } from './queries';

export const PackageVersion = z
  .object({
    name: z.string(),
    version: z.string(),
    description: z.string(),
    sha256: z.string().openapi({ description: 'Hex sha256 of the zip archive' }),
    size: z.number().int(),
    created_at: z.string(),
  })
  .openapi('AgentPackageVersion');

export const versionJson = (v: Omit<PackageVersionRow, 'manifest' | 'r2Key'>) => ({
  name: v.name,
  version: v.version,
  description: v.description,
  sha256: v.sha256,
  size: v.size,
  created_at: iso(v.createdAt),
});

export const PackagePage = z.object({
  package: z.object({ name: z.string(), latest_version: z.string().nullable(), created_at: z.string() }),
  versions: z.array(PackageVersion),
  next_cursor: nextCursorSchema,
});

export const packageJson = (pkg: PackageRow, latest: string | null) => ({
  name: pkg.name,
  latest_version: latest,
  created_at: iso(pkg.createdAt),
});

const pathString = (name: string) => z.string().openapi({ param: { name, in: 'path' } });
/** Publishing holds the path to the registry's rules; reads take any string (an invalid one is simply unknown). */
export const publishParams = z.object({
  name: packageNameSchema.openapi({ param: { name: 'name', in: 'path' }, example: 'research-assistant' }),
  version: versionSchema.openapi({ param: { name: 'version', in: 'path' }, example: '1.2.3' }),
});
export const packageParams = z.object({ name: pathString('name') });
export const versionParams = z.object({ name: pathString('name'), version: pathString('version') });
export const zipBody = { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } };
