/** Header parameters, file names and content types: what comes in from clients and goes back out. */

const PARAM = /;\s*([^\s=;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;
const EXT_VALUE = /^([\w!#$%&+^`{}~-]+)'[^']*'(.*)$/;

/** RFC 5987 `charset'lang'pct-encoded`; null when it does not decode. */
function decodeExtValue(value: string): string | null {
  const m = EXT_VALUE.exec(value);
  if (!m) return null;
  const charset = m[1].toLowerCase();
  try {
    if (charset === 'utf-8') return decodeURIComponent(m[2]);
    if (charset === 'iso-8859-1') return m[2].replace(/%([0-9a-f]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
  } catch {
    // Malformed percent-encoding: fall back to the plain parameter.
  }
  return null;
}

/**
 * The `; key=value` parameters of a header (Content-Type, Content-Disposition), keys lowercased,
 * quoted values unescaped, `key*` extended values decoded (and dropped when they do not decode).
 */
export function parseHeaderParams(header: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of header.matchAll(PARAM)) {
    const key = m[1].toLowerCase();
    if (out.has(key)) continue;
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3].trim();
    if (key.endsWith('*')) {
      const decoded = decodeExtValue(value);
      if (decoded !== null) out.set(key, decoded);
    } else {
      out.set(key, value);
    }
  }
  return out;
}

export const NAME_MAX = 255;

/**
 * A display name from a client's filename: the last path segment, without control or
 * bidirectional-override characters (they spoof extensions), at most 255 characters.
 */
export function sanitizeFilename(raw: string | null | undefined, fallback = 'file'): string {
  const base = (raw ?? '').split(/[/\\]/).pop() ?? '';
  const clean = base.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '').trim();
  if (clean === '' || clean === '.' || clean === '..') return fallback;
  return Array.from(clean).slice(0, NAME_MAX).join('');
}

const TOKEN = "[a-z0-9!#$&^_.+-]{1,127}";
const MIME = new RegExp(`^(${TOKEN}/${TOKEN})\\s*(;.*)?$`, 'i');

/**
 * The charsets a stored Content-Type keeps. Others are dropped: the runtime refuses to serve some
 * (`utf-7`, `utf-16`, unknown names made the download fail), and utf-7 is a known XSS vector.
 */
const CHARSETS = new Set(['utf-8', 'us-ascii', 'iso-8859-1', 'iso-8859-15', 'windows-1252']);

/** A safe Content-Type to store and serve again: type/subtype (and a known charset), else octet-stream. */
export function normalizeContentType(value: string | null | undefined): string {
  const m = MIME.exec((value ?? '').trim());
  if (!m) return 'application/octet-stream';
  const charset = parseHeaderParams(m[2] ?? '').get('charset')?.toLowerCase();
  const essence = m[1].toLowerCase();
  return charset && CHARSETS.has(charset) ? `${essence}; charset=${charset}` : essence;
}

/** RFC 5987 attr-char encoding: encodeURIComponent leaves ' ( ) * which attr-char excludes. */
const encodeAttr = (s: string) =>
  encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/**
 * `attachment` with an ASCII fallback `filename` and the exact name in `filename*` (RFC 6266):
 * old clients read the first, everyone else the second.
 */
export function attachmentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeAttr(name)}`;
}
