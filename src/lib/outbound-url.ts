/**
 * URLs that users give us to call (webhooks today, MCP servers next) must be public https
 * endpoints: anything that could reach loopback, private networks, link-local metadata
 * services, translation gateways or internal names is refused, on create and again on every
 * call (the rules may have been stricter when the URL was stored). Names that resolve to
 * private addresses cannot be caught here (Workers have no resolver); Cloudflare's egress does
 * not route to private ranges, and redirects are never followed. URLs that operators set in
 * vars are not user input and do not come through here.
 */
import { parseIPv4, parseIPv6 } from './ip';

// [base address, prefix length] of the IPv4 ranges we never call.
const BLOCKED_V4: [number, number][] = [
  [0x00000000, 8], // "this network", incl. 0.0.0.0 unspecified
  [0x0a000000, 8], // private
  [0x64400000, 10], // CGNAT 100.64/10
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (cloud metadata lives here)
  [0xac100000, 12], // private
  [0xc0000000, 24], // IETF protocol assignments
  [0xc0000200, 24], // documentation 192.0.2/24
  [0xc0a80000, 16], // private
  [0xc6120000, 15], // benchmarking 198.18/15
  [0xc6336400, 24], // documentation 198.51.100/24
  [0xcb007100, 24], // documentation 203.0.113/24
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, incl. broadcast
];

// [address, prefix length] of the IPv6 ranges we never call (IPv4-mapped and 6to4 are checked
// by the IPv4 address they carry, in v6Blocked).
const BLOCKED_V6: [string, number][] = [
  ['::', 96], // unspecified, loopback and IPv4-compatible (deprecated)
  ['::ffff:0:0:0', 96], // IPv4-translated (SIIT): a gateway picks the IPv4 host
  ['64:ff9b::', 96], // NAT64: a gateway picks the IPv4 host, private ones included
  ['64:ff9b:1::', 48], // local-use NAT64
  ['::', 8], // the rest of the IETF-reserved ::/8
  ['100::', 64], // discard
  ['2001::', 32], // Teredo: tunnels to an IPv4 host we cannot see
  ['2001:2::', 48], // benchmarking
  ['2001:db8::', 32], // documentation
  ['3fff::', 20], // documentation
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

const RESERVED_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'lan', 'intranet', 'corp', 'test', 'invalid'];

const v4Blocked = (ip: number) => BLOCKED_V4.some(([base, bits]) => ip >>> (32 - bits) === base >>> (32 - bits));

const V6_RANGES = BLOCKED_V6.map(([address, bits]) => [parseIPv6(address)!, bits] as const);

/** Whether the first `bits` bits of two addresses (as 16-bit groups) agree. */
function samePrefix(a: number[], b: number[], bits: number): boolean {
  for (let i = 0; bits > 0; i++, bits -= 16) {
    const mask = bits >= 16 ? 0xffff : (0xffff << (16 - bits)) & 0xffff;
    if ((a[i] & mask) !== (b[i] & mask)) return false;
  }
  return true;
}

function v6Blocked(g: number[]): boolean {
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(5) && g[5] === 0xffff) return v4Blocked(((g[6] << 16) | g[7]) >>> 0); // IPv4-mapped
  if (g[0] === 0x2002) return v4Blocked(((g[1] << 16) | g[2]) >>> 0); // 6to4
  return V6_RANGES.some(([base, bits]) => samePrefix(g, base, bits));
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Why a URL given by a user may not be called, or null when it may. `allowLoopback`
 * (OUTBOUND_ALLOW_LOOPBACK, for local runs and tests) lets http and https reach localhost,
 * 127.0.0.1 and [::1] on any port, and nothing else.
 */
export function outboundUrlError(raw: string, allowLoopback: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url must be a valid absolute URL';
  }
  if (url.username || url.password) return 'url must not contain credentials';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (allowLoopback && (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(host)) return null;
  if (url.protocol !== 'https:') return 'url must use https';
  if (host.startsWith('[')) {
    const groups = parseIPv6(host.slice(1, -1));
    return !groups || v6Blocked(groups) ? 'url must not point to a private, loopback or reserved address' : null;
  }
  const v4 = parseIPv4(host);
  if (v4 !== null) return v4Blocked(v4) ? 'url must not point to a private, loopback or reserved address' : null;
  if (!host.includes('.')) return 'url must use a public host name';
  if (RESERVED_SUFFIXES.some((s) => host === s || host.endsWith('.' + s))) return 'url must use a public host name';
  return null;
}
