import { describe, expect, it } from 'vitest';
import { formDataBoundary, indexOfBytes, MultipartError, MultipartReader, MultipartTooLarge } from '../src/files/multipart';

const enc = new TextEncoder();
const dec = new TextDecoder();
const B = 'XyZboundary';

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
}

/** `body` cut at the given offsets. */
function split(body: Uint8Array, cuts: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const cut of [...cuts, body.length]) {
    out.push(body.slice(prev, cut));
    prev = cut;
  }
  return out;
}

interface Parsed {
  name: string | null;
  filename: string | null;
  contentType: string | null;
  body: string;
}

async function parseAll(chunks: Uint8Array[], boundary = B, max?: number): Promise<Parsed[]> {
  const reader = new MultipartReader(streamOf(chunks), boundary, max);
  const parts: Parsed[] = [];
  for (let p = await reader.nextPart(); p; p = await reader.nextPart()) {
    let body = '';
    await reader.readBody((c) => {
      body += dec.decode(c, { stream: true });
    });
    parts.push({ ...p, body });
  }
  return parts;
}

// Content that looks like a delimiter without being one: CRLF pairs, a "--" line, the boundary
// without its leading CRLF, a delimiter prefix cut short, and a trailing CR.
const tricky = `line1\r\nline2\r\n\r\n--\r\n-${B}\r\nx--${B}\r\n--XyZbound\r\nend\r`;
const body = enc.encode(
  `preamble to ignore\r\n--${B}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"description":"doc"}\r\n` +
    `--${B}\r\nContent-Disposition: form-data; name="file"; filename="a \\"quoted\\" name.txt"\r\nContent-Type: text/plain\r\n\r\n${tricky}\r\n` +
    `--${B}--\r\nepilogue to ignore`,
);
const want: Parsed[] = [
  { name: 'metadata', filename: null, contentType: null, body: '{"description":"doc"}' },
  { name: 'file', filename: 'a "quoted" name.txt', contentType: 'text/plain', body: tricky },
];

describe('multipart reader', () => {
  it('reads fields and a file whose content has CRLFs and near-delimiters', async () => {
    expect(await parseAll([body])).toEqual(want);
  });

  it('gives the same parts for every split into two chunks (boundary split across chunks)', async () => {
    for (let cut = 1; cut < body.length; cut++) {
      expect(await parseAll(split(body, [cut])), `cut at ${cut}`).toEqual(want);
    }
  });

  it('gives the same parts one byte at a time and in 7-byte chunks', async () => {
    expect(await parseAll(split(body, Array.from({ length: body.length - 1 }, (_, i) => i + 1)))).toEqual(want);
    expect(await parseAll(split(body, Array.from({ length: Math.floor(body.length / 7) }, (_, i) => (i + 1) * 7)))).toEqual(want);
  });

  it('treats a delimiter followed by junk (content containing CRLF--boundary) as malformed', async () => {
    const bad = enc.encode(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\na\r\n--${B}junk\r\n--${B}--`);
    await expect(parseAll([bad])).rejects.toThrow('Malformed multipart boundary line');
  });

  it('skips a part that was not read when asked for the next one', async () => {
    const reader = new MultipartReader(streamOf([body]), B);
    expect((await reader.nextPart())?.name).toBe('metadata');
    expect((await reader.nextPart())?.name).toBe('file');
    expect(await reader.nextPart()).toBeNull();
    expect(await reader.nextPart()).toBeNull();
  });

  it('reads a body with no parts, a part without headers, and transport padding', async () => {
    expect(await parseAll([enc.encode(`--${B}--\r\n`)])).toEqual([]);
    const parts = await parseAll([enc.encode(`--${B}  \t\r\n\r\nbare\r\n--${B}--`)]);
    expect(parts).toEqual([{ name: null, filename: null, contentType: null, body: 'bare' }]);
  });

  it('decodes filename* (RFC 5987) in preference to filename', async () => {
    const head = `Content-Disposition: form-data; name=file; filename="fallback.txt"; filename*=UTF-8''%E2%82%AC%20rates.txt`;
    const [part] = await parseAll([enc.encode(`--${B}\r\n${head}\r\n\r\nx\r\n--${B}--`)]);
    expect(part).toMatchObject({ name: 'file', filename: '€ rates.txt', body: 'x' });
  });

  it('keeps binary content byte for byte', async () => {
    const bin = Uint8Array.from({ length: 2048 }, (_, i) => (i * 31 + 7) % 256);
    const head = enc.encode(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\n`);
    const tail = enc.encode(`\r\n--${B}--\r\n`);
    const all = new Uint8Array([...head, ...bin, ...tail]);
    const reader = new MultipartReader(streamOf(split(all, [50, 51, 1000, 2100])), B);
    await reader.nextPart();
    const got: number[] = [];
    await reader.readBody((c) => {
      got.push(...c);
    });
    expect(new Uint8Array(got)).toEqual(bin);
  });

  it('rejects a body that ends inside a part (missing closing delimiter)', async () => {
    await expect(parseAll([enc.encode(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\ncut off`)])).rejects.toBeInstanceOf(
      MultipartError,
    );
    await expect(parseAll([enc.encode(`--${B}\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--${B}`)])).rejects.toBeInstanceOf(
      MultipartError,
    );
  });

  it('rejects a body without the boundary, and a part header without a colon', async () => {
    await expect(parseAll([enc.encode('no boundary here at all')])).rejects.toBeInstanceOf(MultipartError);
    await expect(parseAll([enc.encode(`--${B}\r\nnot a header\r\n\r\nx\r\n--${B}--`)])).rejects.toThrow('Malformed multipart part header');
  });

  it('rejects part headers past 16 KiB', async () => {
    const long = `X-Long: ${'a'.repeat(17 * 1024)}`;
    await expect(parseAll([enc.encode(`--${B}\r\n${long}\r\n\r\nx\r\n--${B}--`)])).rejects.toThrow('Multipart part headers too long');
  });

  it('stops with MultipartTooLarge once the body passes maxBytes', async () => {
    const big = enc.encode(`--${B}\r\nContent-Disposition: form-data; name="file"\r\n\r\n${'z'.repeat(5000)}\r\n--${B}--`);
    await expect(parseAll(split(big, [1000, 2000, 3000, 4000]), B, 3500)).rejects.toBeInstanceOf(MultipartTooLarge);
    expect(await parseAll([big], B, big.length)).toHaveLength(1);
  });
});

describe('formDataBoundary', () => {
  it('reads plain and quoted boundaries and refuses everything else', () => {
    expect(formDataBoundary(`multipart/form-data; boundary=${B}`)).toBe(B);
    expect(formDataBoundary('Multipart/Form-Data; charset=utf-8; boundary="a b:c"')).toBe('a b:c');
    expect(formDataBoundary('multipart/form-data')).toBeNull();
    expect(formDataBoundary(`multipart/form-data; boundary=${'a'.repeat(71)}`)).toBeNull();
    expect(formDataBoundary('multipart/mixed; boundary=abc')).toBeNull();
    expect(formDataBoundary('application/json')).toBeNull();
    expect(formDataBoundary(undefined)).toBeNull();
  });
});

describe('indexOfBytes', () => {
  it('finds a needle at the start, the end, after false starts, or not at all', () => {
    const hay = enc.encode('\r\n-\r\n--ab\r\n--abc');
    expect(indexOfBytes(hay, enc.encode('\r\n--abc'))).toBe(9);
    expect(indexOfBytes(hay, enc.encode('\r\n-'))).toBe(0);
    expect(indexOfBytes(hay, enc.encode('\r\n--abcd'))).toBe(-1);
    expect(indexOfBytes(hay, enc.encode('\r\n'), 1)).toBe(3);
  });
});
