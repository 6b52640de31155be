import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { readZip } from '../src/packages/zip';
import { expectError, newUser } from './helpers';
import { packageZip, patchLocalField, patchName, putPackage, uniqueName } from './packages-fixtures';

const limits = { maxUncompressedBytes: 1 << 20, maxEntries: 100, keep: 'agent.json', keepMaxBytes: 1 << 16 };
const text = strToU8('hello '.repeat(1000));
const stored = () => zipSync({ 'a.txt': text, 'b.txt': strToU8('second') }, { level: 0 });
const deflated = () => zipSync({ 'a.txt': text, 'b.txt': strToU8('second') });

function refusedBy(zip: Uint8Array) {
  try {
    readZip(zip, limits);
  } catch (err) {
    return err as { code: string; msg: string };
  }
  throw new Error('accepted');
}

describe('local headers must agree with the central directory', () => {
  it('reads an archive whose two views agree, stored or deflated', () => {
    for (const zip of [stored(), deflated()]) expect(readZip(zip, limits).entries).toEqual(['a.txt', 'b.txt']);
  });

  for (const [label, make] of [['stored', stored], ['deflated', deflated]] as const) {
    it(`refuses a ${label} entry whose local header claims 5 bytes (uncompressed or compressed)`, () => {
      for (const field of ['usize', 'csize'] as const) {
        const err = refusedBy(patchLocalField(make(), 'a.txt', field, 5));
        expect(err.code, field).toBe('invalid_archive');
        expect(err.msg).toMatch(/^Invalid zip archive: /);
      }
    });

    it(`refuses a ${label} entry whose local header names another method`, () => {
      expect(refusedBy(patchLocalField(make(), 'a.txt', 'method', label === 'stored' ? 8 : 0)).code).toBe('invalid_archive');
    });
  }

  it('refuses a local header that names another entry (swapped with its neighbour)', () => {
    expect(refusedBy(patchName(deflated(), 'a.txt', 'b.txt', 'local')).code).toBe('invalid_archive');
  });

  it('PUT /agent/packages refuses a package with a 5-byte local claim over a larger entry', async () => {
    const u = await newUser();
    const name = uniqueName();
    const zip = patchLocalField(packageZip(name, '1.0.0', { files: { 'blob.txt': text } }), 'blob.txt', 'usize', 5);
    const res = await putPackage(u.token, name, '1.0.0', zip);
    expectError(res, 400);
    expect(res.json.code).toBe('invalid_archive');
  });
});
