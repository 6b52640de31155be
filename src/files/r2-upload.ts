/**
 * Bytes into R2 without holding the whole file: a multipart-upload writer that buffers one part
 * at a time, and a fixed-length put for raw bodies. Both hash with crypto.DigestStream as the
 * bytes pass and stop at the size limit.
 */
import { payloadTooLarge } from '../lib/errors';

/** R2 wants every part but the last at least 5 MiB and all of the same size. */
export const PART_SIZE = 5 * 1024 * 1024;

export interface Stored {
  size: number;
  sha256: string;
}

const hex = (buf: ArrayBuffer) => [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, '0')).join('');

/** Hashes and counts chunks as they pass, failing with 413 past `maxBytes`. */
class Tally {
  private readonly stream = new crypto.DigestStream('SHA-256');
  private readonly writer = this.stream.getWriter();
  size = 0;

  constructor(private readonly maxBytes: number) {}

  async add(chunk: Uint8Array) {
    this.size += chunk.byteLength;
    if (this.size > this.maxBytes) throw payloadTooLarge();
    await this.writer.write(chunk);
  }

  async finish(): Promise<Stored> {
    await this.writer.close();
    return { size: this.size, sha256: hex(await this.stream.digest) };
  }
}

/**
 * Writes a stream of chunks of unknown total length into `key`. Small files (under one part)
 * become one `put`; larger ones an R2 multipart upload, so memory stays about one part.
 */
export class R2StreamWriter {
  private readonly tally: Tally;
  private part: Uint8Array | null = null;
  private filled = 0;
  private upload: R2MultipartUpload | null = null;
  private readonly parts: R2UploadedPart[] = [];

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: string,
    private readonly httpMetadata: R2HTTPMetadata,
    maxBytes: number,
    private readonly partSize = PART_SIZE,
  ) {
    this.tally = new Tally(maxBytes);
  }

  async write(chunk: Uint8Array) {
    await this.tally.add(chunk);
    for (let off = 0; off < chunk.length; ) {
      this.part ??= new Uint8Array(this.partSize);
      const n = Math.min(this.partSize - this.filled, chunk.length - off);
      this.part.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.partSize) await this.flush();
    }
  }

  private async flush() {
    this.upload ??= await this.bucket.createMultipartUpload(this.key, { httpMetadata: this.httpMetadata });
    const body = this.part!.subarray(0, this.filled);
    this.parts.push(await this.upload.uploadPart(this.parts.length + 1, body));
    this.part = null;
    this.filled = 0;
  }

  async finish(): Promise<Stored> {
    const stored = await this.tally.finish();
    if (!this.upload) {
      const body = this.part ? this.part.subarray(0, this.filled) : new Uint8Array(0);
      await this.bucket.put(this.key, body, { httpMetadata: this.httpMetadata, sha256: stored.sha256 });
    } else {
      if (this.filled > 0) await this.flush();
      await this.upload.complete(this.parts);
    }
    return stored;
  }

  /** Drops the parts uploaded so far (best effort: the cleanup job covers the key either way). */
  async abort() {
    this.part = null;
    await this.upload?.abort().catch(() => {});
  }
}

/**
 * A raw body of a declared length straight into `key`: one pass through a transform that hashes
 * and counts (keeping backpressure, unlike a tee), then a FixedLengthStream so R2 knows the size.
 */
export async function putFixedLength(
  bucket: R2Bucket,
  key: string,
  body: ReadableStream<Uint8Array> | null,
  length: number,
  httpMetadata: R2HTTPMetadata,
): Promise<Stored> {
  const tally = new Tally(length);
  if (!body || length === 0) {
    if (body) await body.pipeTo(new WritableStream({ write: (c) => tally.add(c) }));
    const stored = await tally.finish();
    await bucket.put(key, new Uint8Array(0), { httpMetadata, sha256: stored.sha256 });
    return stored;
  }
  const hashing = new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      await tally.add(chunk);
      controller.enqueue(chunk);
    },
  });
  const fixed = new FixedLengthStream(length);
  const put = bucket.put(key, fixed.readable, { httpMetadata });
  const [piped, stored] = await Promise.allSettled([body.pipeThrough(hashing).pipeTo(fixed.writable), put]);
  if (piped.status === 'rejected') throw piped.reason;
  if (stored.status === 'rejected') throw stored.reason;
  const result = await tally.finish();
  if (result.size !== length) throw new Error('Body shorter than Content-Length');
  return result;
}
