import { runCleanupJobs } from '../outbox/outbox';
import {
  findPackage,
  insertVersion,
  registerUpload,
  versionStrings,
  type PackageVersionRow,
} from './queries';
import type { Config } from '../lib/config';
import { ApiError, conflict, payloadTooLarge } from '../lib/errors';
import { newId, sha256Hex } from '../lib/ids';
import type { Db } from '../db/client';
import { MANIFEST_FILE, parseManifest } from './manifest';
import { compareSemver, parseSemver } from './semver';
import { readZip } from './zip';

// An upload's R2 object is swept unless its version row lands within this long.
const UPLOAD_GRACE_MS = 15 * 60_000;
const ZIP_TYPES = ['application/zip', 'application/x-zip-compressed'];

export const notOwner = (name: string) =>
  new ApiError(403, 'package_forbidden', `Package ${name} belongs to another user`);
const versionExists = (name: string, version: string) => conflict(`Version ${version} of ${name} already exists`, 'version_exists');

/** The request body, refused as soon as it passes `max` bytes (Content-Length is checked first). */
export async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const declared = req.headers.get('content-length');
  if (declared !== null && Number(declared) > max) throw payloadTooLarge();
  if (!req.body) return new Uint8Array(0);
  const reader = req.body.getReader();
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
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** 403 for someone else's name, 409 for a version that exists (or ties one in precedence: 1.0.0+a vs 1.0.0+b). */
async function checkPublishable(db: Db, userId: string, name: string, version: string) {
  const pkg = await findPackage(db, name);
  if (pkg && pkg.ownerId !== userId) throw notOwner(name);
  const wanted = parseSemver(version)!;
  for (const v of await versionStrings(db, name)) {
    const s = parseSemver(v);
    if (v === version || (s && compareSemver(s, wanted) === 0)) throw versionExists(name, v);
  }
}

export interface Publish {
  env: Env;
  waitUntil: (promise: Promise<unknown>) => void;
  db: Db;
  cfg: Config;
  userId: string;
  name: string;
  version: string;
  req: Request;
}

/**
 * Checks, reads and stores one package version: the archive goes to R2 under a key of its own
 * (so a publisher that loses a race never overwrites the winner's object), then one D1 batch
 * claims the name and version.
 */
export async function publish(p: Publish): Promise<PackageVersionRow> {
  const type = (p.req.headers.get('content-type') ?? '').split(';')[0].trim().toLowerCase();
  if (!ZIP_TYPES.includes(type)) throw new ApiError(415, 'unsupported_media_type', 'Content-Type must be application/zip');
  const declared = p.req.headers.get('content-length');
  if (declared !== null && Number(declared) > p.cfg.packageMaxBytes) throw payloadTooLarge();
  await checkPublishable(p.db, p.userId, p.name, p.version);

  const bytes = await readBody(p.req, p.cfg.packageMaxBytes);
  const zip = readZip(bytes, {
    maxUncompressedBytes: p.cfg.packageMaxUncompressedBytes,
    maxEntries: p.cfg.packageMaxFiles,
    keep: MANIFEST_FILE,
    keepMaxBytes: p.cfg.packageManifestMaxBytes,
  });
  const manifest = parseManifest(zip.kept, p.name, p.version);

  const now = Date.now();
  const sha256 = await sha256Hex(bytes);
  const r2Key = `packages/${p.name}/${p.version}/${newId()}.zip`;
  const uploadJobId = await registerUpload(p.db, r2Key, now, UPLOAD_GRACE_MS);
  await p.env.BUCKET.put(r2Key, bytes, {
    sha256,
    httpMetadata: { contentType: 'application/zip' },
    customMetadata: { package: p.name, version: p.version },
  });
  const row = {
    name: p.name,
    version: p.version,
    description: manifest.description,
    manifest: JSON.stringify(manifest),
    sha256,
    size: bytes.byteLength,
    r2Key,
    createdAt: now,
  };
  if (await insertVersion(p.db, { ...row, ownerId: p.userId, now, uploadJobId })) return row;
  // Lost a race: drop our object now, then say who won.
  p.waitUntil(runCleanupJobs(p.env, [uploadJobId]));
  await checkPublishable(p.db, p.userId, p.name, p.version);
  throw versionExists(p.name, p.version);
}

export type Fetched = { ok: true } | { ok: false; status: 500 | 503; reason: string };

/** Reads a stored archive back and holds it to the sha256 recorded when it was published. */
export async function verifyArchive(env: Env, row: PackageVersionRow): Promise<Fetched> {
  let obj: R2ObjectBody | null;
  let bytes: ArrayBuffer;
  try {
    obj = await env.BUCKET.get(row.r2Key);
    if (!obj) return { ok: false, status: 500, reason: 'archive is missing from storage' };
    bytes = await obj.arrayBuffer();
  } catch (err) {
    console.error(JSON.stringify({ msg: 'package download failed', key: row.r2Key, error: String(err) }));
    return { ok: false, status: 503, reason: 'storage is unavailable' };
  }
  if ((await sha256Hex(new Uint8Array(bytes))) !== row.sha256) {
    console.error(JSON.stringify({ msg: 'package checksum mismatch', key: row.r2Key }));
    return { ok: false, status: 500, reason: 'checksum mismatch' };
  }
  return { ok: true };
}
