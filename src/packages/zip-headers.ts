import { ApiError } from '../lib/errors';

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const DATA_DESCRIPTOR = 0x8;

const invalid = (detail: string) => new ApiError(400, 'invalid_archive', `Invalid zip archive: ${detail}`);
const disagree = (name: string) => invalid(`the local header of ${JSON.stringify(name.slice(0, 200))} disagrees with the central directory`);

/** The end-of-central-directory record: where the directory is and how many entries it has. */
function endRecord(view: DataView) {
  for (let at = view.byteLength - 22; at >= Math.max(0, view.byteLength - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) !== EOCD) continue;
    const count = view.getUint16(at + 10, true);
    const offset = view.getUint32(at + 16, true);
    // ZIP64 is only needed past 65535 entries or 4 GiB, far over any package limit (src/lib/config.ts).
    if (count === 0xffff || offset === 0xffffffff) throw invalid('ZIP64 archives are not supported');
    return { count, offset };
  }
  throw invalid('no end of central directory');
}

/**
 * Every central-directory entry's local header must say the same: name, compression method, CRC
 * and sizes (the last three may be zero when a data descriptor follows the data). Readers that
 * walk the local headers (streaming unzippers, src/packages/zip.ts's second pass) would otherwise
 * see other bytes than the ones the central directory describes and the limits checked.
 */
export function checkLocalHeaders(bytes: Uint8Array, checkName: (name: string) => void): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const end = endRecord(view);
  let at = end.offset;
  for (let i = 0; i < end.count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== CENTRAL) throw invalid('unreadable central directory');
    const nameLength = view.getUint16(at + 28, true);
    const name = bytes.subarray(at + 46, at + 46 + nameLength);
    const label = new TextDecoder().decode(name);
    const local = view.getUint32(at + 42, true);
    if (local + 30 > end.offset || view.getUint32(local, true) !== LOCAL) throw disagree(label);
    const localNameLength = view.getUint16(local + 26, true);
    const localName = bytes.subarray(local + 30, local + 30 + localNameLength);
    if (localNameLength !== nameLength || !localName.every((b, j) => b === name[j])) {
      checkName(new TextDecoder().decode(localName)); // an unsafe local name is reported as one
      throw disagree(label);
    }
    if (view.getUint16(local + 8, true) !== view.getUint16(at + 10, true)) throw disagree(label);
    const described = (view.getUint16(local + 6, true) & DATA_DESCRIPTOR) !== 0;
    // CRC, compressed size, uncompressed size: 12 bytes at local +14, central +16.
    for (let f = 0; f < 12; f += 4) {
      const own = view.getUint32(local + 14 + f, true);
      if (own !== view.getUint32(at + 16 + f, true) && !(described && own === 0)) throw disagree(label);
    }
    const dataEnd = local + 30 + localNameLength + view.getUint16(local + 28, true) + view.getUint32(at + 20, true);
    if (dataEnd > end.offset) throw disagree(label);
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
}
