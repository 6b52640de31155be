import { exports } from 'cloudflare:workers';
import { strToU8, zipSync, type Zippable } from 'fflate';
import { expect } from 'vitest';
import { BASE, type Json } from './helpers';

let n = 0;
/** Package names are global in the registry: every test takes its own. */
export const uniqueName = (prefix = 'pkg') => `${prefix}-${Date.now().toString(36)}-${++n}-${Math.random().toString(36).slice(2, 6)}`;

export const manifest = (name: string, version: string, over: Record<string, unknown> = {}) => ({
  name,
  version,
  description: `${name} at ${version}`,
  system_prompt: 'You are a careful research assistant.',
  model: { provider: 'openai', name: 'gpt-4o', temperature: 0.2, max_tokens: 1024 },
  tools: [{ name: 'web_search', description: 'Search the web', parameters: { type: 'object', properties: { q: { type: 'string' } } } }],
  ...over,
});

/** A valid package archive; `files` adds (or replaces) entries, `over` changes the manifest. */
export function packageZip(name: string, version: string, opts: { over?: Record<string, unknown>; files?: Zippable } = {}) {
  return zipSync({
    'agent.json': strToU8(JSON.stringify(manifest(name, version, opts.over))),
    'README.md': strToU8(`# ${name}\n`),
    'prompts/extra.txt': strToU8('more context'),
    ...opts.files,
  });
}

export async function putPackage(token: string | undefined, name: string, version: string, body: BodyInit | null, headers: Record<string, string> = {}) {
  const h: Record<string, string> = { 'content-type': 'application/zip', ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await exports.default.fetch(new Request(`${BASE}/agent/packages/${name}/${version}`, { method: 'PUT', headers: h, body }));
  const text = await res.text();
  let json: Json = {};
  try {
    json = JSON.parse(text);
  } catch {
    json = { _text: text };
  }
  return { status: res.status, json, text, headers: res.headers };
}

/** Publishes and insists it worked. */
export async function publish(token: string, name: string, version: string, over?: Record<string, unknown>) {
  const bytes = packageZip(name, version, { over });
  const res = await putPackage(token, name, version, bytes);
  expect(res.status, res.text).toBe(201);
  return { bytes, version: res.json.package_version };
}

export const sha256 = async (bytes: Uint8Array) =>
  [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');

const LOCAL = 0x04034b50;
const CENTRAL = 0x02014b50;

/** Each header of `entry` (local and central), with where its name and size fields are. */
function headers(zip: Uint8Array, entry: string) {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const found: { kind: 'local' | 'central'; nameAt: number; usizeAt: number }[] = [];
  for (let i = 0; i + 46 <= zip.length; i++) {
    const sig = view.getUint32(i, true);
    if (sig !== LOCAL && sig !== CENTRAL) continue;
    const local = sig === LOCAL;
    const nameLen = view.getUint16(i + (local ? 26 : 28), true);
    const nameAt = i + (local ? 30 : 46);
    if (new TextDecoder().decode(zip.subarray(nameAt, nameAt + nameLen)) === entry) {
      found.push({ kind: local ? 'local' : 'central', nameAt, usizeAt: i + (local ? 22 : 24) });
    }
  }
  expect(found.length).toBe(2);
  return found;
}

/** Rewrites an entry's declared uncompressed size in both headers: a zip that lies. */
export function patchDeclaredSize(zip: Uint8Array, entry: string, size: number): Uint8Array {
  const out = zip.slice();
  for (const h of headers(out, entry)) new DataView(out.buffer).setUint32(h.usizeAt, size, true);
  return out;
}

/** Renames an entry in one kind of header only (same length): the two views disagree. */
export function patchName(zip: Uint8Array, entry: string, to: string, kind: 'local' | 'central'): Uint8Array {
  expect(to.length).toBe(entry.length);
  const out = zip.slice();
  for (const h of headers(out, entry)) if (h.kind === kind) out.set(new TextEncoder().encode(to), h.nameAt);
  return out;
}

const LOCAL_FIELDS = { method: [8, 2], csize: [18, 4], usize: [22, 4] } as const;

/** Rewrites one field of an entry's local header only: the central directory still tells the truth. */
export function patchLocalField(zip: Uint8Array, entry: string, field: keyof typeof LOCAL_FIELDS, value: number): Uint8Array {
  const out = zip.slice();
  const [offset, width] = LOCAL_FIELDS[field];
  const at = headers(out, entry).find((h) => h.kind === 'local')!.nameAt - 30 + offset;
  const view = new DataView(out.buffer);
  if (width === 2) view.setUint16(at, value, true);
  else view.setUint32(at, value, true);
  return out;
}
