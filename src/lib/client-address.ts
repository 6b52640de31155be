/**
 * The rate-limit key of an anonymous client (lib/middleware/rate-limit.ts). An IPv6 client
 * usually holds a whole /64, so counting per address would hand it 2^64 buckets: IPv6 is keyed by
 * its /64 prefix (compressed forms included), IPv4 and IPv4-mapped IPv6 by the address.
 */
export function clientKey(ip: string | undefined): string {
  const raw = (ip ?? '').trim().toLowerCase();
  if (!raw.includes(':')) return `ip:${raw || 'unknown'}`;
  const groups = ipv6Groups(raw.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (!groups) return `ip:${raw}`;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `ip:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  return `ip6:${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, or null when it does not parse. */
function ipv6Groups(addr: string): number[] | null {
  let text = addr;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const b = v4.slice(1).map(Number);
    if (b.some((n) => n > 255)) return null;
    text = `${text.slice(0, v4.index)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const part = (s: string) => (s === '' ? [] : s.split(':'));
  const head = part(halves[0]);
  const tail = halves.length === 2 ? part(halves[1]) : [];
  const fill = 8 - head.length - tail.length;
  if (halves.length === 2 ? fill < 1 : fill !== 0) return null;
  const all = [...head, ...Array<string>(halves.length === 2 ? fill : 0).fill('0'), ...tail];
  if (!all.every((g) => /^[0-9a-f]{1,4}$/.test(g))) return null;
  return all.map((g) => parseInt(g, 16));
}
