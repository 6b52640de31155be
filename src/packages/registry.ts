import type { Db } from '../db/client';
import { config } from '../lib/config';
import { ApiError, conflict, payloadTooLarge } from '../lib/errors';
import { newId, sha256Hex } from '../lib/ids';
import { owned } from '../lib/ownership';
import { runJobsSoon } from '../outbox/outbox';
import { MANIFEST_FILE, parseManifest } from './manifest';
import { findPackage, insertVersion, registerUpload, versionStrings, type PackageVersionRow } from './queries';
import { compareSemver, parseSemver } from './semver';
import { concat, readZip } from './zip';

// An upload's R2 object is swept unless its version row lands within this long.
const UPLOAD_GRACE_MS = 15 * 60_000;
const ZIP_TYPES = ['application/zip', 'application/x-zip-compressed'];

const notOwner = (name: string) => new ApiError(403, 'package_forbidden', `Package ${name} belongs to another user`);
const versionExists = (name: string, version: string) => conflict(`Version ${version} of ${name} already exists`, 'version_exists');

/** The body, refused as soon as it passes `max` bytes. */
async function readBody(body: ReadableStream<Uint8Array> | null, max: number): Promise<Uint8Array> {
  if (!body) return new Uint8Array(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel();
      throw payloadTooLarge();
    }
    chunks.push(value);
  }
  return concat(chunks, total);
}

/** 403 for someone else's name, 409 for a version that exists (or ties one in precedence: 1.0.0+a vs 1.0.0+b). */
async function checkPublishable(db: Db, userId: string, name: string, version: string) {
  const pkg = await findPackage(db, name);
  if (pkg) owned(pkg, userId, () => notOwner(name));
  const wanted = parseSemver(version)!;
  for (const v of await versionStrings(db, name)) {
    const s = parseSemver(v);
    if (v === version || (s && compareSemver(s, wanted) === 0)) throw versionExists(name, v);
  }
}

/** A version to publish: the path's name and version, and the request's headers and body. */
export interface Upload {
  name: string;
  version: string;
  contentType: string | undefined;
  contentLength: string | undefined;
  body: ReadableStream<Uint8Array> | null;
}

/**
 * Checks, reads and stores one package version: the archive goes to R2 under a key of its own
 * (so a publisher that loses a race never overwrites the winner's object), then one D1 batch
 * claims the name and version (packages/queries.ts: insertVersion).
 */
export async function publish(
  { db, env, waitUntil }: { db: Db; env: Env; waitUntil: (p: Promise<unknown>) => void },
  userId: string,
  upload: Upload,
): Promise<PackageVersionRow> {
  const { name, version } = upload;
  const cfg = config(env);
  const type = (upload.contentType ?? '').split(';')[0].trim().toLowerCase();
  if (!ZIP_TYPES.includes(type)) throw new ApiError(415, 'unsupported_media_type', 'Content-Type must be application/zip');
  // Content-Length is checked before any work; a body that declares none is cut off while read.
  if (upload.contentLength !== undefined && Number(upload.contentLength) > cfg.packageMaxBytes) throw payloadTooLarge();
  await checkPublishable(db, userId, name, version);

  const bytes = await readBody(upload.body, cfg.packageMaxBytes);
  const zip = readZip(bytes, {
    maxUncompressedBytes: cfg.packageMaxUncompressedBytes,
    maxEntries: cfg.packageMaxFiles,
    keep: MANIFEST_FILE,
    keepMaxBytes: cfg.packageManifestMaxBytes,
  });
  const manifest = parseManifest(zip.kept, name, version);

  const now = Date.now();
  const sha256 = await sha256Hex(bytes);
  const r2Key = `packages/${name}/${version}/${newId()}.zip`;
  const uploadJobId = await registerUpload(db, r2Key, now, UPLOAD_GRACE_MS);
  await env.BUCKET.put(r2Key, bytes, {
    sha256,
    httpMetadata: { contentType: 'application/zip' },
    customMetadata: { package: name, version },
  });
  const row = {
    name,
    version,
    description: manifest.description,
    manifest: JSON.stringify(manifest),
    sha256,
    size: bytes.byteLength,
    r2Key,
    createdAt: now,
  };
  if (await insertVersion(db, { ...row, ownerId: userId, now, uploadJobId })) return row;
  // Lost a race: drop our object now, then say who won.
  runJobsSoon(env, waitUntil, [uploadJobId]);
  await checkPublishable(db, userId, name, version);
  throw versionExists(name, version);
}
