/**
 * Serving a stored file: one `Range` (RFC 9110 §14), conditional requests on the content hash,
 * and headers that keep a browser from rendering an upload as a page on our origin.
 */
import type { FileRow } from './queries';
import { ApiError } from '../lib/errors';
import { attachmentDisposition } from './names';
import { fileNotFound } from './service';

export type ByteRange = { offset: number; length: number };

/**
 * The one range a `Range` header asks for within `size` bytes: null means "send it all" (no
 * header, another unit, several ranges, or bad syntax, which RFC 9110 lets a server ignore);
 * 'unsatisfiable' means 416.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null | 'unsatisfiable' {
  const m = header ? /^bytes=\s*(\d*)-(\d*)\s*$/i.exec(header) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    const length = Math.min(suffix, size);
    return { offset: size - length, length };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Number(m[2]);
  if (m[2] !== '' && end < start) return null;
  if (start >= size) return 'unsatisfiable';
  return { offset: start, length: Math.min(end, size - 1) - start + 1 };
}

/** A strong ETag from the content hash, so it survives re-uploads of the same bytes. */
export const etagOf = (file: FileRow) => `"${file.sha256}"`;

/** If-None-Match compares weakly: W/"x" matches "x", and `*` matches anything. */
export function noneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((t) => {
    const tag = t.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}

/** Streams `file` from R2 with the download headers, honouring Range, If-Range and If-None-Match. */
export async function serveFile(bucket: R2Bucket, file: FileRow, req: Request): Promise<Response> {
  const etag = etagOf(file);
  const headers = new Headers({
    'Content-Type': file.contentType,
    'Content-Disposition': attachmentDisposition(file.name),
    'X-Content-Type-Options': 'nosniff',
    'Content-Security-Policy': "default-src 'none'; sandbox",
    'Cache-Control': 'private, no-cache',
    'Accept-Ranges': 'bytes',
    ETag: etag,
  });
  if (noneMatch(req.headers.get('if-none-match') ?? undefined, etag)) return new Response(null, { status: 304, headers });

  // If-Range: the range only applies to the same bytes (a strong match); a date never matches.
  const ifRange = req.headers.get('if-range');
  const range = ifRange !== null && ifRange.trim() !== etag ? null : parseRange(req.headers.get('range') ?? undefined, file.size);
  if (range === 'unsatisfiable') {
    throw new ApiError(416, 'range_not_satisfiable', 'Range not satisfiable', {}, { 'Content-Range': `bytes */${file.size}` });
  }
  const object = await bucket.get(file.r2Key, range ? { range } : {});
  if (!object || !('body' in object)) throw fileNotFound();
  if (!range) {
    headers.set('Content-Length', String(file.size));
    return new Response(object.body, { status: 200, headers });
  }
  headers.set('Content-Length', String(range.length));
  headers.set('Content-Range', `bytes ${range.offset}-${range.offset + range.length - 1}/${file.size}`);
  return new Response(object.body, { status: 206, headers });
}
