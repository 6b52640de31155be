import { parseIPv6 } from './ip';

/**
 * The rate-limit key of an anonymous client (lib/middleware/rate-limit.ts). An IPv6 client
 * usually holds a whole /64, so counting per address would hand it 2^64 buckets: IPv6 is keyed by
 * its /64 prefix (compressed forms included), IPv4 and IPv4-mapped IPv6 by the address.
 */
export function clientKey(ip: string | undefined): string {
  const raw = (ip ?? '').trim().toLowerCase();
  if (!raw.includes(':')) return `ip:${raw || 'unknown'}`;
  const groups = parseIPv6(raw.replace(/^\[|\]$/g, '').replace(/%.*$/, ''));
  if (!groups) return `ip:${raw}`;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `ip:${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`;
  }
  return `ip6:${groups.slice(0, 4).map((g) => g.toString(16)).join(':')}::/64`;
}
