import { and, eq } from 'drizzle-orm';
import { agentPackages, agentPackageVersions } from '../db/schema';
import { jobId, queueJob } from '../outbox/outbox';
import { keyset } from '../lib/pagination';
import type { Db } from '../db/client';

export type PackageRow = typeof agentPackages.$inferSelect;
export type PackageVersionRow = typeof agentPackageVersions.$inferSelect;

export async function findPackage(db: Db, name: string): Promise<PackageRow | null> {
  return (await db.select().from(agentPackages).where(eq(agentPackages.name, name)).limit(1))[0] ?? null;
}

export async function findPackageVersion(db: Db, name: string, version: string): Promise<PackageVersionRow | null> {
  const where = and(eq(agentPackageVersions.name, name), eq(agentPackageVersions.version, version));
  return (await db.select().from(agentPackageVersions).where(where).limit(1))[0] ?? null;
}

/** Every version string of a package, for semver resolution (a package has few versions). */
export async function versionStrings(db: Db, name: string): Promise<string[]> {
  const rows = await db
    .select({ version: agentPackageVersions.version })
    .from(agentPackageVersions)
    .where(eq(agentPackageVersions.name, name));
  return rows.map((r) => r.version);
}

/** Newest published first; the cursor is (created_at, version). */
export async function listPackageVersions(db: Db, name: string, limit: number, cursor?: string) {
  const k = keyset(agentPackageVersions.createdAt, agentPackageVersions.version, cursor);
  const rows = await db
    .select()
    .from(agentPackageVersions)
    .where(and(eq(agentPackageVersions.name, name), k.where))
    .orderBy(...k.orderBy)
    .limit(limit + 1);
  return rows.map((r) => ({ ...r, id: r.version }));
}

/**
 * Registers an upload's R2 key before the object is written, so the cron sweeper deletes it
 * if the request dies before its version row exists (see outbox/outbox.ts).
 */
export async function registerUpload(db: Db, key: string, now: number, graceMs: number): Promise<string> {
  await queueJob(db, 'r2_object', key, now, now + graceMs);
  return jobId('r2_object', key);
}

export interface NewVersion {
  name: string;
  version: string;
  ownerId: string;
  description: string;
  manifest: string;
  sha256: string;
  size: number;
  r2Key: string;
  now: number;
  uploadJobId: string;
}

/**
 * One atomic batch: claim the name if nobody has, add the version only if the caller owns the
 * name and the version is new, and drop the upload's cleanup job only if its row went in.
 * Two publishers racing for a name or a version cannot both win. Returns whether it went in.
 */
export async function insertVersion(db: Db, v: NewVersion): Promise<boolean> {
  // Raw D1 statements: drizzle's batch cannot bind parameters of `db.run(sql...)`.
  const d1 = db.$client;
  const [, inserted] = await d1.batch<{ version: string }>([
    d1.prepare('INSERT INTO agent_packages (name, owner_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING').bind(v.name, v.ownerId, v.now),
    d1
      .prepare(
        `INSERT INTO agent_package_versions (name, version, description, manifest, sha256, size, r2_key, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8
         WHERE EXISTS (SELECT 1 FROM agent_packages WHERE name = ?1 AND owner_id = ?9)
         ON CONFLICT DO NOTHING
         RETURNING version`,
      )
      .bind(v.name, v.version, v.description, v.manifest, v.sha256, v.size, v.r2Key, v.now, v.ownerId),
    d1
      .prepare(
        `DELETE FROM cleanup_jobs WHERE id = ?1
         AND EXISTS (SELECT 1 FROM agent_package_versions WHERE name = ?2 AND version = ?3 AND r2_key = ?4)`,
      )
      .bind(v.uploadJobId, v.name, v.version, v.r2Key),
  ]);
  return inserted.results.length > 0;
}
