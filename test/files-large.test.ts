import { env } from 'cloudflare:workers';
import { expect, it } from 'vitest';
import { newUser } from './helpers';
import { BOUNDARY, formType, jsonOf, r2Key, send, sha256Of } from './files-fixtures';

const MiB = 1024 * 1024;
const enc = new TextEncoder();
const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

/**
 * A multipart form around `size` pseudo-random bytes made as they are read (never held whole),
 * hashing the file bytes on the test's side as they go.
 */
function generatedForm(size: number) {
  const head = enc.encode(
    `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = enc.encode(`\r\n--${BOUNDARY}--\r\n`);
  const block = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const digest = new crypto.DigestStream('SHA-256');
  const hasher = digest.getWriter();
  let sent = -1;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (sent === -1) {
        sent = 0;
        return c.enqueue(head);
      }
      if (sent >= size) {
        await hasher.close();
        c.enqueue(tail);
        return c.close();
      }
      const chunk = block.slice(0, Math.min(block.length, size - sent));
      new DataView(chunk.buffer).setUint32(0, sent); // every chunk differs
      sent += chunk.length;
      await hasher.write(chunk.slice());
      c.enqueue(chunk);
    },
  });
  return { stream, sha256: async () => hex(await digest.digest) };
}

it('streams a 70 MiB upload (more than the isolate could hold twice) into R2 with the right size and sha256', { timeout: 300_000 }, async () => {
  const u = await newUser();
  const size = 70 * MiB;
  const form = generatedForm(size);
  const res = await jsonOf(await send('POST', '/files/upload', { token: u.token, body: form.stream, headers: { 'content-type': formType() } }));
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  const expected = await form.sha256();
  expect(res.json.file).toMatchObject({ name: 'big.bin', size, sha256: expected });
  const key = r2Key(u.userId, res.json.file.file_id);
  expect((await env.BUCKET.head(key))!.size).toBe(size);
  // The stored bytes themselves hash to the same value (read back as a stream).
  expect(await sha256Of((await env.BUCKET.get(key))!.body)).toBe(expected);
});
