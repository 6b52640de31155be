import { z } from '@hono/zod-openapi';
import { pageQuery } from '../lib/pagination';
import { createRouter, depsOf, defineRoute, errorResponse, okJson } from '../lib/router';
import { publish } from './registry';
import { PackagePage, packageJson, packageParams, PackageVersion, publishParams, versionJson, versionParams, zipBody } from './schemas';
import { ARCHIVE_MISSING, CHECKSUM_MISMATCH, openArchive, PACKAGE_NOT_FOUND, packagePage, VERSION_NOT_FOUND } from './service';

/** Any signed-in user reads the registry; only a name's first publisher adds versions to it. */
export const packageRoutes = createRouter()
  .openapi(
    defineRoute('bearer', {
      method: 'put',
      path: '/agent/packages/{name}/{version}',
      tags: ['Agent packages'],
      summary: 'Publish a package version (a zip archive with agent.json at its root)',
      operationId: 'publishPackage',
      description:
        'Uploads a zip archive (`Content-Type: application/zip`, at most 10 MiB) whose agent.json matches the path\'s `name` (lower case) and `version` (SemVer). The first publisher of a name owns it: another user publishing to it is 403, an existing version 409. Unsafe paths and zip bombs are 400 or 413. Swagger UI cannot build a zip: use curl with `--data-binary @agent.zip`.',
      request: { params: publishParams, body: { required: true, content: zipBody } },
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
      const row = await publish(depsOf(c), c.get('user').id, {
        ...c.req.valid('param'),
        contentType: c.req.header('content-type'),
        contentLength: c.req.header('content-length'),
        body: c.req.raw.body,
      });
      return c.json({ package_version: versionJson(row) }, 201);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/packages/{name}',
      tags: ['Agent packages'],
      summary: 'A package and its versions, newest published first, paginated',
      operationId: 'getPackage',
      description:
        'Any signed-in user reads any package: its `latest_version` (highest SemVer) and its versions, newest published first. 404 `Package not found`.',
      request: { params: packageParams, query: pageQuery },
      responses: { 200: okJson(PackagePage), 400: errorResponse('Invalid cursor'), 404: errorResponse(PACKAGE_NOT_FOUND) },
    }),
    async (c) => {
      const p = await packagePage(c.get('db'), c.req.valid('param').name, c.req.valid('query'));
      return c.json({ package: packageJson(p.pkg, p.latest), versions: p.versions.map(versionJson), next_cursor: p.nextCursor }, 200);
    },
  )
  .openapi(
    defineRoute('bearer', {
      method: 'get',
      path: '/agent/packages/{name}/{version}/archive',
      tags: ['Agent packages'],
      summary: "Download one version's zip archive; its sha256 is in X-Checksum-Sha256",
      operationId: 'downloadPackageArchive',
      description:
        'The archive exactly as published, with `X-Checksum-Sha256`; it is checked against its stored checksum on the way out (500 when it fails). 404 `Package version not found`.',
      request: { params: versionParams },
      responses: {
        200: { description: 'The archive', content: zipBody },
        404: errorResponse(VERSION_NOT_FOUND),
        500: errorResponse(ARCHIVE_MISSING, CHECKSUM_MISMATCH),
      },
    }),
    async (c) => {
      const { name, version } = c.req.valid('param');
      const { row, body } = await openArchive(depsOf(c), name, version);
      return c.body(body, 200, {
        'Content-Type': 'application/zip',
        'Content-Length': String(row.size),
        'Content-Disposition': `attachment; filename="${row.name}-${row.version}.zip"`,
        'X-Checksum-Sha256': row.sha256,
        // Someone else's upload: never sniffed into something a browser would run or render.
        'X-Content-Type-Options': 'nosniff',
        'Content-Security-Policy': "default-src 'none'; sandbox",
      });
    },
  );
