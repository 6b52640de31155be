import { Unzip, UnzipInflate, unzipSync } from 'fflate';
import { ApiError } from '../lib/errors';
import { checkLocalHeaders } from './zip-headers';

export interface ZipLimits {
  /** Total of all entries once inflated. */
  maxUncompressedBytes: number;
  maxEntries: number;
  /** Only this entry's bytes are kept (it is capped separately). */
  keep: string;
  keepMaxBytes: number;
}

export interface ZipContents {
  entries: string[];
  uncompressedBytes: number;
  /** The kept entry's bytes, or null when the archive has none. */
  kept: Uint8Array | null;
}

// Small input chunks bound how far one push can inflate past the cap (DEFLATE peaks near 1032:1).
const CHUNK = 4096;

const invalid = (detail: string) => new ApiError(400, 'invalid_archive', `Invalid zip archive: ${detail}`);
const tooBig = (cap: number) =>
  new ApiError(413, 'uncompressed_too_large', `Package expands to more than ${cap} bytes`);

/** Zip-slip: anything that could land outside the directory it is extracted into. */
export function unsafePath(name: string): boolean {
  return (
    name === '' ||
    name.includes('\\') ||
    name.startsWith('/') ||
    /^[A-Za-z]:/.test(name) ||
    /[\u0000-\u001f\u007f]/.test(name) ||
    name.split('/').some((part) => part === '..')
  );
}

function checkName(name: string) {
  if (unsafePath(name)) {
    throw new ApiError(400, 'unsafe_path', `Unsafe path in package: ${JSON.stringify(name.slice(0, 200))}`);
  }
}

interface Declared {
  size: number;
  compression: number;
}

/**
 * Pass 1, fflate's central-directory reader (the filter sees every entry and inflates none):
 * names, methods and declared sizes, before any byte is inflated.
 */
function readDirectory(bytes: Uint8Array, limits: ZipLimits): Map<string, Declared> {
  const dir = new Map<string, Declared>();
  let declared = 0;
  try {
    unzipSync(bytes, {
      filter: (f) => {
        checkName(f.name);
        if (dir.has(f.name)) throw invalid(`duplicate entry ${JSON.stringify(f.name.slice(0, 200))}`);
        if (f.compression !== 0 && f.compression !== 8) throw invalid(`unsupported compression method ${f.compression}`);
        if (dir.size >= limits.maxEntries) throw new ApiError(400, 'too_many_entries', `Package has more than ${limits.maxEntries} entries`);
        declared += f.originalSize;
        if (declared > limits.maxUncompressedBytes) throw tooBig(limits.maxUncompressedBytes);
        dir.set(f.name, { size: f.originalSize, compression: f.compression });
        return false;
      },
    });
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw invalid('unreadable central directory');
  }
  return dir;
}

/**
 * Reads a package archive with fflate and refuses unsafe paths and zip bombs. The central
 * directory's declared sizes are checked first; then every entry is inflated by the streaming
 * reader (which walks the local headers) in small chunks, counting real output, so a lying size
 * stops within one chunk of the cap. Both views must agree on names, methods and sizes
 * (zip-headers.ts), so a client that trusts either one sees what was checked.
 */
export function readZip(bytes: Uint8Array, limits: ZipLimits): ZipContents {
  const dir = readDirectory(bytes, limits);
  checkLocalHeaders(bytes, checkName);
  const seen = new Map<string, number>();
  const keptChunks: Uint8Array[] = [];
  let keptBytes = 0;
  let total = 0;
  let failure: unknown = null;
  const fail = (err: unknown) => {
    failure ??= err;
  };

  const unzip = new Unzip((file) => {
    if (failure) return;
    try {
      checkName(file.name);
      if (seen.has(file.name) || !dir.has(file.name)) throw invalid('local headers disagree with the central directory');
    } catch (err) {
      return fail(err);
    }
    seen.set(file.name, 0);
    const keep = file.name === limits.keep;
    file.ondata = (err, data, final) => {
      if (failure) return;
      if (err) return fail(invalid(`corrupt entry ${JSON.stringify(file.name.slice(0, 200))}`));
      total += data.length;
      const size = (seen.get(file.name) ?? 0) + data.length;
      seen.set(file.name, size);
      if (total > limits.maxUncompressedBytes) return fail(tooBig(limits.maxUncompressedBytes));
      if (size > (dir.get(file.name)?.size ?? 0)) return fail(invalid('an entry inflates past its declared size'));
      if (keep) {
        keptBytes += data.length;
        if (keptBytes > limits.keepMaxBytes) return fail(new ApiError(413, 'manifest_too_large', `${limits.keep} is larger than ${limits.keepMaxBytes} bytes`));
        keptChunks.push(data);
      }
      if (final && size !== dir.get(file.name)?.size) fail(invalid('an entry is shorter than its declared size'));
    };
    file.start();
  });
  unzip.register(UnzipInflate);

  try {
    for (let i = 0; i < bytes.length && !failure; i += CHUNK) unzip.push(bytes.subarray(i, i + CHUNK), i + CHUNK >= bytes.length);
  } catch {
    fail(invalid('truncated or corrupt data'));
  }
  if (failure) throw failure;
  if (seen.size !== dir.size) throw invalid('local headers disagree with the central directory');
  // An entry whose stream never ended was cut short.
  for (const [name, d] of dir) if (seen.get(name) !== d.size) throw invalid('an entry is shorter than its declared size');

  return { entries: [...dir.keys()], uncompressedBytes: total, kept: seen.has(limits.keep) ? concat(keptChunks, keptBytes) : null };
}

/** The chunks, joined into one array of `length` bytes. */
export function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
