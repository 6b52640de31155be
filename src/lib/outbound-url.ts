/**
 * Webhook targets must be public https endpoints: anything that could reach loopback, private
 * networks, link-local metadata services or internal names is refused, on create and again on
 * every call (the rules may have been stricter when the process was created). Names that resolve
 * to private addresses cannot be caught here (Workers have no resolver); Cloudflare's egress does
 * not route to private ranges, and redirects are never followed.
 */

// [base address, prefix length] of the IPv4 ranges a webhook may never reach.
const BLOCKED_V4: [number, number][] = [
  [0x00000000, 8], // "this network", incl. 0.0.0.0 unspecified
  [0x0a000000, 8], // private
  [0x64400000, 10], // CGNAT 100.64/10
  [0x7f000000, 8], // loopback
  [0xa9fe0000, 16], // link-local (cloud metadata lives here)
  [0xac100000, 12], // private
  [0xc0000000, 24], // IETF protocol assignments
  [0xc0a80000, 16], // private
  [0xc6120000, 15], // benchmarking 198.18/15
  [0xe0000000, 4], // multicast
  [0xf0000000, 4], // reserved, incl. broadcast
];

const RESERVED_SUFFIXES = ['localhost', 'local', 'internal', 'home.arpa', 'lan', 'intranet', 'corp', 'test', 'invalid'];

function parseV4(host: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

const v4Blocked = (ip: number) => BLOCKED_V4.some(([base, bits]) => ip >>> (32 - bits) === base >>> (32 - bits));

/**
 * Eight 16-bit groups, or null. The URL parser has already normalized the literal to lowercase
 * hex groups (it never keeps a dotted IPv4 tail), so only `::` compression is left to expand.
 */
function parseV6(host: string): number[] | null {
  const [head, rest, extra] = host.split('::');
  if (extra !== undefined) return null;
  const hex = (part: string | undefined) => (part ? part.split(':').map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : NaN)) : []);
  const a = hex(head);
  const b = hex(rest);
  const fill = 8 - a.length - b.length;
  if (fill < 0 || (rest === undefined && fill !== 0)) return null;
  const groups = [...a, ...Array<number>(fill).fill(0), ...b];
  return groups.every((g) => !Number.isNaN(g)) ? groups : null;
}

function v6Blocked(g: number[]): boolean {
  const embeddedV4 = ((g[6] << 16) | g[7]) >>> 0;
  const zeros = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeros(8)) return true; // :: unspecified
  if (zeros(7) && g[7] === 1) return true; // ::1 loopback
  if (zeros(5) && g[5] === 0xffff) return v4Blocked(embeddedV4); // IPv4-mapped
  if (zeros(6)) return true; // IPv4-compatible (deprecated)
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0)) return v4Blocked(embeddedV4); // NAT64
  if (g[0] === 0x2002) return v4Blocked(((g[1] << 16) | g[2]) >>> 0); // 6to4
  if ((g[0] & 0xfe00) === 0xfc00) return true; // unique local fc00::/7
  if ((g[0] & 0xffc0) === 0xfe80 || (g[0] & 0xffc0) === 0xfec0) return true; // link/site-local
  if ((g[0] & 0xff00) === 0xff00) return true; // multicast
  if (g[0] === 0x2001 && g[1] === 0x0db8) return true; // documentation
  return false;
}

const LOCAL_DEV_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Why a webhook URL is refused, or null when it may be called. */
export function webhookUrlError(raw: string, allowHttpLocalhost: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'url must be a valid absolute URL';
  }
  if (url.username || url.password) return 'url must not contain credentials';
  const host = url.hostname.toLowerCase().replace(/\.$/, '');
  if (url.protocol === 'http:' && allowHttpLocalhost && LOCAL_DEV_HOSTS.has(host)) return null;
  if (url.protocol !== 'https:') return 'url must use https';
  if (host.startsWith('[')) {
    const groups = parseV6(host.slice(1, -1));
    return !groups || v6Blocked(groups) ? 'url must not point to a private, loopback or reserved address' : null;
  }
  const v4 = parseV4(host);
  if (v4 !== null) return v4Blocked(v4) ? 'url must not point to a private, loopback or reserved address' : null;
  if (!host.includes('.')) return 'url must use a public host name';
  if (RESERVED_SUFFIXES.some((s) => host === s || host.endsWith('.' + s))) return 'url must use a public host name';
  return null;
}
