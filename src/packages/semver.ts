/** Semantic Versioning 2.0.0 (https://semver.org), just what the registry needs. */

// The regular expression semver.org recommends (numbers without leading zeros).
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

export const VERSION_MAX_LENGTH = 64;

export interface SemVer {
  major: bigint;
  minor: bigint;
  patch: bigint;
  prerelease: string[];
}

export function parseSemver(version: string): SemVer | null {
  if (version.length > VERSION_MAX_LENGTH) return null;
  const m = SEMVER.exec(version);
  if (!m) return null;
  // BigInt: semver puts no bound on the numbers, and 2^53 must not round into a tie.
  return { major: BigInt(m[1]), minor: BigInt(m[2]), patch: BigInt(m[3]), prerelease: m[4] ? m[4].split('.') : [] };
}

export const isSemver = (version: string): boolean => parseSemver(version) !== null;

const cmp = (a: bigint | string, b: bigint | string) => (a < b ? -1 : a > b ? 1 : 0);

function comparePrerelease(a: string[], b: string[]): number {
  // A release outranks its pre-releases: 1.0.0-rc.1 < 1.0.0.
  if (!a.length || !b.length) return Math.sign(b.length - a.length);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === undefined) return -1;
    if (b[i] === undefined) return 1;
    const an = /^\d+$/.test(a[i]);
    const bn = /^\d+$/.test(b[i]);
    // Numeric identifiers compare as numbers and rank below alphanumeric ones.
    const c = an && bn ? cmp(BigInt(a[i]), BigInt(b[i])) : an ? -1 : bn ? 1 : cmp(a[i], b[i]);
    if (c) return c;
  }
  return 0;
}

/** Precedence; build metadata is ignored, so 1.0.0+a and 1.0.0+b compare equal. */
export function compareSemver(a: SemVer, b: SemVer): number {
  return cmp(a.major, b.major) || cmp(a.minor, b.minor) || cmp(a.patch, b.patch) || comparePrerelease(a.prerelease, b.prerelease);
}

/** The version of highest precedence (pre-releases included), or null for an empty list. */
export function highestVersion(versions: string[]): string | null {
  let best: { v: string; s: SemVer } | null = null;
  for (const v of versions) {
    const s = parseSemver(v);
    if (s && (!best || compareSemver(s, best.s) > 0)) best = { v, s };
  }
  return best?.v ?? null;
}
