import { describe, expect, it } from 'vitest';
import { attachmentDisposition, normalizeContentType, parseHeaderParams, sanitizeFilename } from '../src/files/names';
import { noneMatch, parseRange } from '../src/files/serve';

describe('file names and content types', () => {
  it('keeps the last path segment without control or bidi-override characters', () => {
    expect(sanitizeFilename('C:\\Users\\me\\report.pdf')).toBe('report.pdf');
    expect(sanitizeFilename('../../etc/passwd')).toBe('passwd');
    expect(sanitizeFilename('evil\u202Etxt.exe')).toBe('eviltxt.exe');
    expect(sanitizeFilename('a\r\nb\u0000.txt')).toBe('ab.txt');
    expect(sanitizeFilename('..')).toBe('file');
    expect(sanitizeFilename('  ')).toBe('file');
    expect(sanitizeFilename(null)).toBe('file');
    expect(Array.from(sanitizeFilename('€'.repeat(300)))).toHaveLength(255);
  });

  it('stores only well-formed content types', () => {
    expect(normalizeContentType('Text/HTML; Charset=UTF-8; foo=bar')).toBe('text/html; charset=utf-8');
    expect(normalizeContentType('image/png')).toBe('image/png');
    expect(normalizeContentType('text/plain\r\nX-Injected: 1')).toBe('application/octet-stream');
    expect(normalizeContentType('nonsense')).toBe('application/octet-stream');
    expect(normalizeContentType(null)).toBe('application/octet-stream');
  });

  it('writes an ASCII fallback and an RFC 5987 filename*', () => {
    expect(attachmentDisposition('report.pdf')).toBe(`attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`);
    expect(attachmentDisposition('€ "q" (1)%.txt')).toBe(
      `attachment; filename="_ _q_ (1)_.txt"; filename*=UTF-8''%E2%82%AC%20%22q%22%20%281%29%25.txt`,
    );
  });

  it('parses header parameters, quoted and extended', () => {
    const p = parseHeaderParams(`form-data; name="a;b"; FILENAME=plain.txt; filename*=utf-8'en'%C3%A9.txt; bad*=UTF-8''%ZZ`);
    expect(p.get('name')).toBe('a;b');
    expect(p.get('filename')).toBe('plain.txt');
    expect(p.get('filename*')).toBe('é.txt');
    expect(p.has('bad*')).toBe(false);
  });
});

describe('Range and If-None-Match', () => {
  it('parses one byte range within the size', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ offset: 0, length: 10 });
    expect(parseRange('bytes=90-', 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange('bytes=95-500', 100)).toEqual({ offset: 95, length: 5 });
    expect(parseRange('bytes=-10', 100)).toEqual({ offset: 90, length: 10 });
    expect(parseRange('bytes=-500', 100)).toEqual({ offset: 0, length: 100 });
  });

  it('ignores what it cannot serve as one range and refuses what is out of bounds', () => {
    expect(parseRange(undefined, 100)).toBeNull();
    expect(parseRange('bytes=0-1,5-6', 100)).toBeNull();
    expect(parseRange('items=0-1', 100)).toBeNull();
    expect(parseRange('bytes=9-1', 100)).toBeNull();
    expect(parseRange('bytes=-', 100)).toBeNull();
    expect(parseRange('bytes=100-', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=-0', 100)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-', 0)).toBe('unsatisfiable');
  });

  it('matches If-None-Match weakly, in lists, and with *', () => {
    expect(noneMatch('"abc"', '"abc"')).toBe(true);
    expect(noneMatch('W/"abc"', '"abc"')).toBe(true);
    expect(noneMatch('"x", "abc"', '"abc"')).toBe(true);
    expect(noneMatch('*', '"abc"')).toBe(true);
    expect(noneMatch('"abd"', '"abc"')).toBe(false);
    expect(noneMatch(undefined, '"abc"')).toBe(false);
  });
});
