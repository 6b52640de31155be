import type { Db } from '../db/client';
import { ApiError, notFound } from '../lib/errors';
import { sha256Hex } from '../lib/ids';
import { page } from '../lib/pagination';
import { findPackage, findPackageVersion, listPackageVersions, versionStrings, type PackageVersionRow } from './queries';
import { highestVersion } from './semver';

export const PACKAGE_NOT_FOUND = 'Package not found';
export const VERSION_NOT_FOUND = 'Package version not found';
export const ARCHIVE_MISSING = 'Package archive is missing from storage';
export const CHECKSUM_MISMATCH = 'Package archive failed its checksum';

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** A package, its highest semver and one page of its versions (any signed-in user reads the registry). */
export async function packagePage(db: Db, name: string, { limit, cursor }: { limit: number; cursor?: string }) {
  const pkg = await findPackage(db, name);
  if (!pkg) throw notFound(PACKAGE_NOT_FOUND, 'package_not_found');
  const { items, nextCursor } = page(await listPackageVersions(db, pkg.name, limit, cursor), limit);
  return { pkg, latest: highestVersion(await versionStrings(db, pkg.name)), versions: items, nextCursor };
}

/** The version asked for or, with none, the highest semver; null when there is no such version. */
export async function resolveVersion(db: Db, name: string, asked?: string): Promise<PackageVersionRow | null> {
  const version = asked || highestVersion(await versionStrings(db, name));
  return version ? findPackageVersion(db, name, version) : null;
}

/** One version's archive, held to the sha256 recorded when it was published. */
export async function openArchive({ db, env }: { db: Db; env: Env }, name: string, version: string) {
  const row = await findPackageVersion(db, name, version);
  if (!row) throw notFound(VERSION_NOT_FOUND, 'version_not_found');
  const obj = await env.BUCKET.get(row.r2Key);
  if (!obj) throw new ApiError(500, 'archive_missing', ARCHIVE_MISSING);
  // R2 verified the sha256 we sent when publish wrote the object; one without it was not
  // written by publish, so hash what is there before serving it.
  let body: ReadableStream | ArrayBuffer = obj.body;
  let intact = obj.checksums.sha256 ? hex(obj.checksums.sha256) === row.sha256 : null;
  if (intact === null) {
    body = await obj.arrayBuffer();
    intact = (await sha256Hex(new Uint8Array(body))) === row.sha256;
  }
  if (!intact) throw new ApiError(500, 'checksum_mismatch', CHECKSUM_MISMATCH);
  return { row, body };
}

export type Fetched = { ok: true } | { ok: false; status: 500 | 503; reason: string };

/** For an install: reads a stored archive back and holds it to its recorded sha256; never throws. */
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
