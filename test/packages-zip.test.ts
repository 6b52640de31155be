import { env } from 'cloudflare:workers';
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { expectError, newUser, withVars, type TestUser } from './helpers';
import { manifest, packageZip, patchDeclaredSize, patchName, putPackage, uniqueName } from './packages-fixtures';

let user: TestUser;
const me = async () => (user ??= await newUser());
const stored = async (name: string) => (await env.BUCKET.list({ prefix: `packages/${name}/` })).objects.length;

/** Publishes `zip` as a fresh name at 1.0.0 and expects it refused with nothing stored. */
async function refused(zip: Uint8Array | ((name: string) => Uint8Array), status: number, msg?: string | RegExp) {
  const name = uniqueName();
  const res = await putPackage((await me()).token, name, '1.0.0', typeof zip === 'function' ? zip(name) : zip);
  expectError(res, status);
  if (typeof msg === 'string') expect(res.json.msg).toBe(msg);
  else if (msg) expect(res.json.msg).toMatch(msg);
  expect(await stored(name)).toBe(0);
  const row = await env.DB.prepare('SELECT 1 FROM agent_package_versions WHERE name = ?').bind(name).first();
  expect(row).toBeNull();
  return res;
}

const zeros = (n: number) => new Uint8Array(n);
const withManifest = (over: Record<string, unknown>) => (name: string) => packageZip(name, '1.0.0', { over });
const rawManifest = (text: string) => () => zipSync({ 'agent.json': strToU8(text) });

describe('package archives: unsafe paths (zip-slip)', () => {
  for (const path of ['../evil.txt', 'a/../../evil.txt', 'a/..', '/etc/passwd', 'a\\..\\evil.txt', 'dir\\file.txt', 'C:/evil.txt', 'c:evil.txt', 'a/\u0000b']) {
    it(`refuses ${JSON.stringify(path)}`, async () => {
      const res = await refused((name) => packageZip(name, '1.0.0', { files: { [path]: strToU8('x') } }), 400);
      expect(res.json.code).toBe('unsafe_path');
      expect(res.json.msg).toMatch(/^Unsafe path in package: /);
    });
  }

  it('refuses an unsafe name hidden in the local header only (the central directory looks safe)', async () => {
    const res = await refused((name) => patchName(packageZip(name, '1.0.0', { files: { 'zz/evil': strToU8('x') } }), 'zz/evil', '../evil', 'local'), 400);
    expect(res.json.code).toBe('unsafe_path');
  });

  it('refuses an unsafe name hidden in the central directory only', async () => {
    const res = await refused((name) => patchName(packageZip(name, '1.0.0', { files: { 'zz/evil': strToU8('x') } }), 'zz/evil', '../evil', 'central'), 400);
    expect(res.json.code).toBe('unsafe_path');
  });

  it('refuses local headers that name other entries than the central directory', async () => {
    await refused((name) => patchName(packageZip(name, '1.0.0', { files: { 'zz/evil': strToU8('x') } }), 'zz/evil', 'zz/good', 'local'), 400, /^Invalid zip archive/);
  });
});

describe('package archives: zip bombs and limits', () => {
  it('refuses an archive whose declared sizes pass the cap, before inflating', async () => {
    await withVars({ PACKAGE_MAX_UNCOMPRESSED_BYTES: String(1024 * 1024) }, async () => {
      const res = await refused((name) => packageZip(name, '1.0.0', { files: { 'blob.bin': zeros(2 * 1024 * 1024) } }), 413);
      expect(res.json).toMatchObject({ code: 'uncompressed_too_large', msg: `Package expands to more than ${1024 * 1024} bytes` });
    });
  });

  it('refuses a small archive that declares tiny sizes but inflates past the cap (enforced while inflating)', async () => {
    await withVars({ PACKAGE_MAX_UNCOMPRESSED_BYTES: String(1024 * 1024) }, async () => {
      const bomb = (name: string) => patchDeclaredSize(packageZip(name, '1.0.0', { files: { 'blob.bin': zeros(8 * 1024 * 1024) } }), 'blob.bin', 100);
      expect(bomb('x').length).toBeLessThan(64 * 1024);
      const res = await refused(bomb, 413);
      expect(res.json.code).toBe('uncompressed_too_large');
    });
  });

  it('refuses an entry that inflates past its declared size even under the cap', async () => {
    await refused((name) => patchDeclaredSize(packageZip(name, '1.0.0', { files: { 'blob.bin': zeros(5000) } }), 'blob.bin', 100), 400, /^Invalid zip archive/);
  });

  it('refuses an entry shorter than its declared size', async () => {
    await refused((name) => patchDeclaredSize(packageZip(name, '1.0.0', { files: { 'blob.bin': zeros(5000) } }), 'blob.bin', 6000), 400, /^Invalid zip archive/);
  });

  it('accepts an archive exactly at the uncompressed cap and refuses one byte more', async () => {
    const manifestBytes = (name: string) => strToU8(JSON.stringify(manifest(name, '1.0.0')));
    const build = (name: string, blob: number) => zipSync({ 'agent.json': manifestBytes(name), 'blob.bin': zeros(blob) });
    const name = uniqueName();
    const cap = manifestBytes(name).length + 4096;
    await withVars({ PACKAGE_MAX_UNCOMPRESSED_BYTES: String(cap) }, async () => {
      expect((await putPackage((await me()).token, name, '1.0.0', build(name, 4096))).status).toBe(201);
      await refused((n) => build(n, cap - manifestBytes(n).length + 1), 413);
    });
  });

  it('refuses more entries than PACKAGE_MAX_FILES', async () => {
    await withVars({ PACKAGE_MAX_FILES: '3' }, async () => {
      const res = await refused((name) => packageZip(name, '1.0.0', { files: { 'one.txt': strToU8('1') } }), 400);
      expect(res.json).toMatchObject({ code: 'too_many_entries', msg: 'Package has more than 3 entries' });
    });
  });

  it('refuses an agent.json over PACKAGE_MANIFEST_MAX_BYTES with 413', async () => {
    await withVars({ PACKAGE_MANIFEST_MAX_BYTES: '300' }, async () => {
      const res = await refused(withManifest({ system_prompt: 'x'.repeat(400) }), 413);
      expect(res.json.code).toBe('manifest_too_large');
    });
  });

  it('refuses bytes that are not a zip, and a truncated zip', async () => {
    await refused(strToU8('definitely not a zip'), 400, /^Invalid zip archive/);
    await refused(new Uint8Array(0), 400, /^Invalid zip archive/);
    await refused((name) => packageZip(name, '1.0.0').subarray(0, 60), 400, /^Invalid zip archive/);
  });
});

describe('package archives: agent.json', () => {
  it('refuses an archive without agent.json at its root (nested does not count)', async () => {
    await refused(zipSync({ 'README.md': strToU8('hi') }), 400, 'Package has no agent.json at its root');
    await refused((name) => zipSync({ 'sub/agent.json': strToU8(JSON.stringify(manifest(name, '1.0.0'))) }), 400, 'Package has no agent.json at its root');
  });

  it('refuses agent.json that is not JSON, not an object, or not UTF-8', async () => {
    await refused(rawManifest('{"name": '), 400, 'agent.json is not valid JSON');
    await refused(() => zipSync({ 'agent.json': new Uint8Array([0x7b, 0xff, 0x7d]) }), 400, 'agent.json is not valid JSON');
    await refused(rawManifest('[1, 2]'), 400, 'agent.json must be a JSON object');
  });

  it('refuses a manifest whose name or version differs from the path', async () => {
    await refused((name) => packageZip(name, '1.0.0', { over: { name: `${name}-other` } }), 400, /^agent\.json name ".*" does not match the package name/);
    await refused((name) => packageZip(name, '1.0.0', { over: { version: '1.0.1' } }), 400, 'agent.json version "1.0.1" does not match the published version "1.0.0"');
  });

  const missing: [string, Record<string, unknown>, RegExp][] = [
    ['name', { name: undefined }, /name is required/],
    ['version', { version: undefined }, /version is required/],
    ['description', { description: undefined }, /description is required/],
    ['system_prompt', { system_prompt: undefined }, /system_prompt is required/],
    ['an empty system_prompt', { system_prompt: '  ' }, /system_prompt is required/],
    ['model', { model: undefined }, /model is required/],
    ['model.name', { model: { provider: 'x' } }, /model\.name is required/],
    ['a tool name', { tools: [{ description: 'no name' }] }, /tools\[\]\.name is required/],
  ];
  for (const [what, over, msg] of missing) {
    it(`refuses a manifest without ${what}`, async () => {
      const res = await refused(withManifest(over), 400, msg);
      expect(res.json.code).toBe('invalid_manifest');
      expect(res.json.msg).toMatch(/^Invalid agent\.json: /);
      expect(res.json.issues.length).toBeGreaterThan(0);
    });
  }

  it('refuses out-of-range model settings and duplicate tools', async () => {
    await refused(withManifest({ model: { name: 'm', temperature: 5 } }), 400, /^Invalid agent\.json: model\.temperature/);
    await refused(withManifest({ model: { name: 'm', max_tokens: -1 } }), 400, /^Invalid agent\.json: model\.max_tokens/);
    await refused(withManifest({ tools: [{ name: 'a' }, { name: 'a' }] }), 400, 'Invalid agent.json: tools: tools[].name must be unique');
  });
});
