import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
}

/**
 * Production ceiling for the KDF: scrypt needs 128·N·r bytes per hash, which must stay well
 * inside the isolate's 128 MB. Held by a test against the wrangler.toml defaults.
 */
export const SCRYPT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;
export const scryptMemory = ({ N, r }: ScryptParams) => 128 * N * r;

const KEY_LENGTH = 32;

function derive(password: string, salt: Buffer, params: ScryptParams): Promise<Buffer> {
  const maxmem = scryptMemory(params) + 1024 * 1024;
  return new Promise((resolve, reject) =>
    scryptCb(password.normalize('NFKC'), salt, KEY_LENGTH, { ...params, maxmem }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

/** `$scrypt$v=1$n=16384,r=8,p=5$<salt b64>$<key b64>`: self-describing, so the cost can rise later. */
export async function hashPassword(password: string, params: ScryptParams): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, params);
  return `$scrypt$v=1$n=${params.N},r=${params.r},p=${params.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Buffer;
  key: Buffer;
}

function parse(stored: string): ParsedHash | null {
  const m = /^\$scrypt\$v=1\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return null;
  return {
    params: { N: Number(m[1]), r: Number(m[2]), p: Number(m[3]) },
    salt: Buffer.from(m[4], 'base64'),
    key: Buffer.from(m[5], 'base64'),
  };
}

/** Checks a password; `rehash` says the stored hash uses other parameters than `current`. */
export async function verifyPassword(
  password: string,
  stored: string,
  current: ScryptParams,
): Promise<{ ok: boolean; rehash: boolean }> {
  const parsed = parse(stored);
  if (!parsed) return { ok: false, rehash: false };
  const key = await derive(password, parsed.salt, parsed.params);
  const ok = key.length === parsed.key.length && timingSafeEqual(key, parsed.key);
  const p = parsed.params;
  return { ok, rehash: ok && (p.N !== current.N || p.r !== current.r || p.p !== current.p) };
}

/** A hash to compare against when the email is unknown, so both paths cost one KDF run. */
let dummy: { params: string; hash: string } | null = null;
export async function dummyHash(params: ScryptParams): Promise<string> {
  const key = `${params.N},${params.r},${params.p}`;
  if (dummy?.params !== key) dummy = { params: key, hash: await hashPassword(crypto.randomUUID(), params) };
  return dummy.hash;
}
