import { env, exports } from 'cloudflare:workers';
import { expect } from 'vitest';
import { BASE, type Json } from './helpers';

export const BOUNDARY = '----agentedgeBoundary7MA4YWxkTrZu0gW';
const enc = new TextEncoder();

export interface SendOptions {
  token?: string;
  headers?: Record<string, string>;
  body?: BodyInit | null;
}

/** A raw request through the Worker (call() only sends JSON or text). */
export async function send(method: string, path: string, opts: SendOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  return exports.default.fetch(new Request(BASE + path, { method, headers, body: opts.body ?? null }));
}

export async function jsonOf(res: Response): Promise<{ status: number; json: Json; headers: Headers }> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : {} };
}

export interface FormPart {
  name: string;
  filename?: string;
  contentType?: string;
  content: string | Uint8Array;
}

/** A multipart/form-data body (bytes), parts in order. */
export function formBody(parts: FormPart[], boundary = BOUNDARY): Uint8Array {
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"`;
    head += '\r\n';
    if (p.contentType) head += `Content-Type: ${p.contentType}\r\n`;
    chunks.push(enc.encode(`${head}\r\n`), typeof p.content === 'string' ? enc.encode(p.content) : p.content, enc.encode('\r\n'));
  }
  chunks.push(enc.encode(`--${boundary}--\r\n`));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

export const formType = (boundary = BOUNDARY) => `multipart/form-data; boundary=${boundary}`;

/** Uploads `content` as the `file` part; returns the parsed response. */
export async function upload(
  token: string,
  content: string | Uint8Array,
  opts: { filename?: string; contentType?: string; query?: string } = {},
) {
  const body = formBody([{ name: 'file', filename: opts.filename ?? 'notes.txt', contentType: opts.contentType ?? 'text/plain', content }]);
  return jsonOf(await send('POST', `/files/upload${opts.query ?? ''}`, { token, body, headers: { 'content-type': formType() } }));
}

/** Uploads and asserts 201; returns the file JSON. */
export async function makeFile(token: string, content: string | Uint8Array = 'hello world', opts: Parameters<typeof upload>[2] = {}) {
  const res = await upload(token, content, opts);
  expect(res.status, JSON.stringify(res.json)).toBe(201);
  return res.json.file as Json;
}

export async function sha256Of(data: string | Uint8Array | ReadableStream): Promise<string> {
  const digest = new crypto.DigestStream('SHA-256');
  if (data instanceof ReadableStream) await data.pipeTo(digest);
  else {
    const w = digest.getWriter();
    await w.write(typeof data === 'string' ? enc.encode(data) : data);
    await w.close();
  }
  return [...new Uint8Array(await digest.digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The file's R2 key as the server names it. */
export const r2Key = (userId: string, fileId: string) => `files/${userId}/${fileId}`;

export async function count(sql: string, ...binds: unknown[]): Promise<number> {
  return (await env.DB.prepare(sql).bind(...binds).first<{ n: number }>())!.n;
}

/**
 * Waits for work the Worker left to `waitUntil` (its promise is not ours to await): polls
 * `check` until it holds, failing after `ms`.
 */
export async function eventually(check: () => Promise<boolean>, ms = 3000) {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
