/**
 * A streaming multipart/form-data reader (RFC 7578 over RFC 2046). It holds at most one read
 * chunk plus a delimiter's worth of bytes, so a part's body can flow anywhere (R2) without the
 * request ever being in memory whole. Parts are read in order: `nextPart()` gives a part's
 * headers, `readBody()` streams its bytes; calling `nextPart()` again skips what was left.
 */
import { parseHeaderParams } from './names';

export class MultipartError extends Error {}
/** The body went past `maxBytes`: the caller answers 413. */
export class MultipartTooLarge extends Error {}

export interface PartHeaders {
  /** The form field name (`file`), or null when the part has no Content-Disposition name. */
  name: string | null;
  /** The client's filename, decoded (filename* preferred), not yet sanitized. */
  filename: string | null;
  contentType: string | null;
}

const CRLF = new Uint8Array([13, 10]);
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_PADDING = 1024;

/** The boundary of a multipart/form-data Content-Type, or null if it is not one. */
export function formDataBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data\s*(;|$)/i.test(contentType)) return null;
  const boundary = parseHeaderParams(contentType).get('boundary');
  // RFC 2046: 1 to 70 characters, not ending in a space.
  return boundary && boundary.length <= 70 && !/[\r\n]| $/.test(boundary) ? boundary : null;
}

/** Index of `needle` in `hay` from `from`, or -1; the native indexOf finds candidate first bytes. */
export function indexOfBytes(hay: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

export class MultipartReader {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly delimiter: Uint8Array;
  // A virtual CRLF in front lets the first boundary match the same "CRLF--boundary" delimiter.
  private buf: Uint8Array = CRLF;
  private state: 'preamble' | 'headers' | 'body' | 'between' | 'done' = 'preamble';
  private bytesRead = 0;

  constructor(
    body: ReadableStream<Uint8Array>,
    boundary: string,
    private readonly maxBytes = Infinity,
  ) {
    this.reader = body.getReader();
    this.delimiter = new TextEncoder().encode(`\r\n--${boundary}`);
  }

  /** The next part's headers, or null after the closing delimiter. */
  async nextPart(): Promise<PartHeaders | null> {
    if (this.state === 'done') return null;
    if (this.state === 'headers') throw new MultipartError('Multipart reader is past an error');
    if (this.state === 'body') await this.readBody(() => {});
    if (this.state === 'preamble') {
      await this.skipPast(this.delimiter);
      this.state = 'between';
    }
    await this.need(2);
    if (this.buf[0] === 45 && this.buf[1] === 45) {
      // "--" closes the body; the epilogue is ignored, not read.
      this.state = 'done';
      return null;
    }
    const padding = await this.readLine(MAX_PADDING);
    if (!/^[ \t]*$/.test(padding)) throw new MultipartError('Malformed multipart boundary line');
    this.state = 'headers';
    const headers = new Map<string, string>();
    let headerBytes = 0;
    for (;;) {
      const line = await this.readLine(MAX_HEADER_BYTES - headerBytes);
      headerBytes += line.length + 2;
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new MultipartError('Malformed multipart part header');
      headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
    }
    this.state = 'body';
    const disposition = parseHeaderParams(headers.get('content-disposition') ?? '');
    return {
      name: disposition.get('name') ?? null,
      filename: disposition.get('filename*') ?? disposition.get('filename') ?? null,
      contentType: headers.get('content-type') ?? null,
    };
  }

  /**
   * Streams the current part's body to `onChunk`, awaiting it (backpressure). A chunk is a view
   * valid until `onChunk` returns; copy it to keep it. Ends at the next delimiter.
   */
  async readBody(onChunk: (chunk: Uint8Array) => unknown): Promise<void> {
    if (this.state !== 'body') throw new MultipartError('No part to read');
    const keep = this.delimiter.length - 1;
    for (;;) {
      const at = indexOfBytes(this.buf, this.delimiter);
      if (at !== -1) {
        if (at > 0) await onChunk(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + this.delimiter.length);
        this.state = 'between';
        return;
      }
      // Everything but a tail that could be the start of a split delimiter is body.
      if (this.buf.length > keep) {
        await onChunk(this.buf.subarray(0, this.buf.length - keep));
        this.buf = this.buf.subarray(this.buf.length - keep);
      }
      if (!(await this.fill())) throw new MultipartError('Multipart body ended inside a part');
    }
  }

  /** Stops reading the request body (after an error, or once the parts needed are read). */
  async cancel(reason?: unknown): Promise<void> {
    this.state = 'done';
    await this.reader.cancel(reason).catch(() => {});
  }

  private async fill(): Promise<boolean> {
    const { value, done } = await this.reader.read();
    if (done) return false;
    this.bytesRead += value.byteLength;
    if (this.bytesRead > this.maxBytes) throw new MultipartTooLarge('Multipart body too large');
    this.buf = concat(this.buf, value);
    return true;
  }

  private async need(n: number) {
    while (this.buf.length < n) {
      if (!(await this.fill())) throw new MultipartError('Multipart body ended early');
    }
  }

  private async skipPast(needle: Uint8Array) {
    for (;;) {
      const at = indexOfBytes(this.buf, needle);
      if (at !== -1) {
        this.buf = this.buf.subarray(at + needle.length);
        return;
      }
      this.buf = this.buf.subarray(Math.max(0, this.buf.length - (needle.length - 1)));
      if (!(await this.fill())) throw new MultipartError('Multipart boundary not found');
    }
  }

  /** One CRLF-terminated line (UTF-8, as browsers send filenames), of at most `max` bytes. */
  private async readLine(max: number): Promise<string> {
    for (;;) {
      const at = indexOfBytes(this.buf, CRLF);
      if (at !== -1 && at <= max) {
        const line = new TextDecoder().decode(this.buf.subarray(0, at));
        this.buf = this.buf.subarray(at + 2);
        return line;
      }
      if (at !== -1 || this.buf.length > max + 1) throw new MultipartError('Multipart part headers too long');
      if (!(await this.fill())) throw new MultipartError('Multipart body ended early');
    }
  }
}
