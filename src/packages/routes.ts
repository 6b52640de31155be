import { z } from '@hono/zod-openapi';
import { findPackage, findPackageVersion, listPackageVersions, versionStrings, type PackageVersionRow } from './queries';
import { config } from '../lib/config';
import { ApiError, notFound } from '../lib/errors';
import { sha256Hex } from '../lib/ids';
import { nextCursorSchema, page, pageQuery } from '../lib/pagination';
import { createRouter, defineRoute, errorResponse, okJson } from '../lib/router';
import { iso } from '../lib/time';
import { packageNameSchema, versionSchema } from './manifest';
import { publish } from './registry';
import { highestVersion } from './semver';

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

const versionJson = (v: Omit<PackageVersionRow, 'manifest' | 'r2Key'>) => ({
  name: v.name,
  version: v.version,
  description: v.description,
  sha256: v.sha256,
  size: v.size,
  created_at: iso(v.createdAt),
});

const name = packageNameSchema.openapi({ param: { name: 'name', in: 'path' }, example: 'research-assistant' });
const version = versionSchema.openapi({ param: { name: 'version', in: 'path' }, example: '1.2.3' });
const PACKAGE_NOT_FOUND = 'Package not found';
const VERSION_NOT_FOUND = 'Package version not found';

/** Any signed-in user reads the registry; only a name's first publisher adds versions to it. */
export const packageRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/agent/packages/{name}/{version}',
      tags: ['Agent packages'],
      summary: 'Publish a package version (a zip archive with agent.json at its root)',
      request: {
        params: z.object({ name, version }),
        body: { required: true, content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } } },
      },
      responses: {
        201: okJson(z.object({ package_version: PackageVersion })),
        400: errorResponse('Invalid package name', 'Invalid version', 'Invalid zip archive', 'Unsafe path in package', 'Invalid agent.json'),
        403: errorResponse('Package <name> belongs to another user'),
        409: errorResponse('Version <version> of <name> already exists'),
        413: errorResponse('Payload too large', 'Package expands to more than <n> bytes'),
        415: errorResponse('Content-Type must be application/zip'),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const row = await publish({
        env: c.env,
        waitUntil: (promise) => c.executionCtx.waitUntil(promise),
        db: c.get('db'),
        cfg: config(c.env),
        userId: c.get('user').id,
        name: p.name,
        version: p.version,
        req: c.req.raw,
      });
      return c.json({ package_version: versionJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/packages/{name}',
      tags: ['Agent packages'],
      summary: "A package and its versions, newest published first, paginated",
      request: { params: z.object({ name: z.string().openapi({ param: { name: 'name', in: 'path' } }) }), query: pageQuery },
      responses: {
        200: okJson(
          z.object({
            package: z.object({ name: z.string(), latest_version: z.string().nullable(), created_at: z.string() }),
            versions: z.array(PackageVersion),
            next_cursor: nextCursorSchema,
          }),
        ),
        400: errorResponse('Invalid cursor'),
        404: errorResponse(PACKAGE_NOT_FOUND),
      },
    }),
    async (c) => {
      const db = c.get('db');
      const { limit, cursor } = c.req.valid('query');
      const pkg = await findPackage(db, c.req.valid('param').name);
      if (!pkg) throw notFound(PACKAGE_NOT_FOUND, 'package_not_found');
      const { items, nextCursor } = page(await listPackageVersions(db, pkg.name, limit, cursor), limit);
      return c.json(
        {
          package: { name: pkg.name, latest_version: highestVersion(await versionStrings(db, pkg.name)), created_at: iso(pkg.createdAt) },
          versions: items.map(versionJson),
          next_cursor: nextCursor,
        },
        200,
      );
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/packages/{name}/{version}/archive',
      tags: ['Agent packages'],
      summary: 'Download one version\'s zip archive; its sha256 is in X-Checksum-Sha256',
      request: {
        params: z.object({
          name: z.string().openapi({ param: { name: 'name', in: 'path' } }),
          version: z.string().openapi({ param: { name: 'version', in: 'path' } }),
        }),
      },
      responses: {
        200: { description: 'The archive', content: { 'application/zip': { schema: z.string().openapi({ format: 'binary' }) } } },
        404: errorResponse(VERSION_NOT_FOUND),
        500: errorResponse('Package archive is missing from storage', 'Package archive failed its checksum'),
      },
    }),
    async (c) => {
      const p = c.req.valid('param');
      const row = await findPackageVersion(c.get('db'), p.name, p.version);
      if (!row) throw notFound(VERSION_NOT_FOUND, 'version_not_found');
      const obj = await c.env.BUCKET.get(row.r2Key);
      if (!obj) throw new ApiError(500, 'archive_missing', 'Package archive is missing from storage');
      // R2 verified the sha256 we sent when publish wrote the object; one without it was not
      // written by publish, so hash what is there before serving it.
      let body: ReadableStream | ArrayBuffer = obj.body;
      let intact = obj.checksums.sha256 ? hex(obj.checksums.sha256) === row.sha256 : null;
      if (intact === null) {
        body = await obj.arrayBuffer();
        intact = (await sha256Hex(new Uint8Array(body))) === row.sha256;
      }
      if (!intact) throw new ApiError(500, 'checksum_mismatch', 'Package archive failed its checksum');
      return c.body(body, 200, {
        'Content-Type': 'application/zip',
        'Content-Length': String(row.size),
        'Content-Disposition': `attachment; filename="${row.name}-${row.version}.zip"`,
        'X-Checksum-Sha256': row.sha256,
      });
    },
  );

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');
