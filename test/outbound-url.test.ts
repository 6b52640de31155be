import { describe, expect, it } from 'vitest';
import { outboundUrlError } from '../src/lib/outbound-url';

const PRIVATE = 'url must not point to a private, loopback or reserved address';

describe('outbound URL check', () => {
  const refused: [string, string][] = [
    ['http://hooks.example.com/', 'url must use https'],
    ['ftp://hooks.example.com/', 'url must use https'],
    ['javascript:alert(1)', 'url must use https'],
    ['not a url', 'url must be a valid absolute URL'],
    ['https://user:pw@hooks.example.com/', 'url must not contain credentials'],
    ['https://localhost/', 'url must use a public host name'],
    ['https://LOCALHOST./', 'url must use a public host name'],
    ['https://api.localhost/', 'url must use a public host name'],
    ['https://printer.local/', 'url must use a public host name'],
    ['https://metadata.google.internal/', 'url must use a public host name'],
    ['https://router.home.arpa/', 'url must use a public host name'],
    ['https://intranet/', 'url must use a public host name'],
  ];
  const privateHosts = [
    '127.0.0.1', '127.255.255.254', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254',
    '100.64.0.1', '100.127.255.255', '0.0.0.0', '0.1.2.3', '224.0.0.1', '255.255.255.255', '198.18.0.1',
    // Other spellings the URL parser normalizes to the same addresses.
    '2130706433', '0x7f.0.0.1', '0177.0.0.1', '127.1', '0',
    '[::1]', '[::]', '[::ffff:127.0.0.1]', '[::ffff:10.0.0.1]', '[::ffff:169.254.169.254]', '[::ffff:7f00:1]',
    '[fc00::1]', '[fd12:3456::1]', '[fe80::1]', '[febf::1]', '[fec0::1]', '[ff02::1]', '[::127.0.0.1]',
    '[64:ff9b::10.0.0.1]', '[2002:c0a8:101::1]', '[2001:db8::1]',
  ];
  // The ranges added with the move to src/lib/outbound-url.ts, each with its boundary.
  const reservedRanges: [string, string[]][] = [
    ['NAT64 64:ff9b::/96, whatever IPv4 host it carries', ['[64:ff9b::8.8.8.8]', '[64:ff9b::]', '[64:ff9b::ffff:ffff]']],
    ['local-use NAT64 64:ff9b:1::/48', ['[64:ff9b:1::1]', '[64:ff9b:1:ffff::8.8.8.8]']],
    ['Teredo 2001::/32', ['[2001::1]', '[2001:0:4136:e378:8000:63bf:3fff:fdd2]', '[2001:0:ffff:ffff::]']],
    ['discard 100::/64', ['[100::]', '[100::1]', '[100::ffff:ffff:ffff:ffff]']],
    ['IPv4-translated ::ffff:0:0:0/96', ['[::ffff:0:7f00:1]', '[::ffff:0:127.0.0.1]', '[::ffff:0:808:808]', '[0:0:0:0:ffff:0:a00:1]']],
    ['IPv4-mapped, hex and dotted', ['[0:0:0:0:0:ffff:7f00:1]', '[::FFFF:7F00:0001]', '[::ffff:a9fe:a9fe]', '[::ffff:c0a8:101]', '[::ffff:0.0.0.0]']],
    ['the rest of ::/8', ['[1::1]', '[ff::1]']],
    ['IPv6 documentation 2001:db8::/32 and 3fff::/20', ['[2001:db8:ffff::1]', '[2001:0db8::]', '[3fff::1]', '[3fff:fff:ffff::1]']],
    ['TEST-NET-1 192.0.2.0/24', ['192.0.2.0', '192.0.2.1', '192.0.2.255', '[::ffff:192.0.2.1]']],
    ['TEST-NET-2 198.51.100.0/24', ['198.51.100.0', '198.51.100.7', '198.51.100.255']],
    ['TEST-NET-3 203.0.113.0/24', ['203.0.113.0', '203.0.113.9', '203.0.113.255', '[2002:cb00:7101::1]']],
  ];
  const allowed = [
    'https://hooks.example.com/path?q=1', 'https://8.8.8.8/', 'https://1.1.1.1:8443/x', 'https://172.32.0.1/', 'https://100.128.0.1/',
    'https://192.169.0.1/', 'https://[2606:4700:4700::1111]/', 'https://[::ffff:8.8.8.8]/',
    'https://sub.domain.co.uk/', 'https://xn--bcher-kva.example/',
    // Just outside the new ranges: public addresses stay callable.
    'https://192.0.3.1/', 'https://198.51.101.1/', 'https://203.0.112.255/', 'https://203.0.114.1/',
    'https://[2001:4860:4860::8888]/', 'https://[2001:1::1]/', 'https://[2001:db9::1]/', 'https://[101::1]/',
    'https://[100:0:0:1::1]/', 'https://[4000::1]/', 'https://[2002:808:808::1]/',
  ];

  it.each(refused)('refuses %s', (url, msg) => {
    expect(outboundUrlError(url, false)).toBe(msg);
  });

  it.each(privateHosts)('refuses the private or reserved address %s', (host) => {
    expect(outboundUrlError(`https://${host}/hook`, false)).toBe(PRIVATE);
  });

  it.each(reservedRanges)('refuses %s', (_range, hosts) => {
    for (const host of hosts) expect(outboundUrlError(`https://${host}/hook`, false), host).toBe(PRIVATE);
  });

  it.each(allowed)('allows %s', (url) => {
    expect(outboundUrlError(url, false)).toBeNull();
  });

  it('OUTBOUND_ALLOW_LOOPBACK allows http and https to localhost, 127.0.0.1 and [::1] on any port, only', () => {
    const loopback = [
      'http://localhost/x', 'http://127.0.0.1:8787/x', 'http://[::1]/x', 'http://LOCALHOST.:1/x',
      'https://localhost/x', 'https://127.0.0.1:8443/x', 'https://[::1]:65535/x', 'https://[0:0:0:0:0:0:0:1]/x',
    ];
    for (const url of loopback) {
      expect(outboundUrlError(url, true), url).toBeNull();
      expect(outboundUrlError(url, false), url).not.toBeNull();
    }
    expect(outboundUrlError('http://10.0.0.1/', true)).toBe('url must use https');
    expect(outboundUrlError('http://hooks.example.com/', true)).toBe('url must use https');
    expect(outboundUrlError('http://127.0.0.2/', true)).toBe('url must use https');
    expect(outboundUrlError('https://127.0.0.2/', true)).toBe(PRIVATE);
    expect(outboundUrlError('https://api.localhost/', true)).toBe('url must use a public host name');
    expect(outboundUrlError('https://[::ffff:127.0.0.1]/', true)).toBe(PRIVATE);
    expect(outboundUrlError('ftp://localhost/', true)).toBe('url must use https');
    expect(outboundUrlError('https://user:pw@localhost/', true)).toBe('url must not contain credentials');
  });
});
