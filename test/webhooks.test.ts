import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../src/processes/webhook';
import { webhookUrlError } from '../src/lib/outbound-url';
import { call, newUser, withVars, type TestUser } from './helpers';

/** What the receiver (test/webhooks-receiver.js, a real local worker) recorded for `key`. */
async function received(key: string): Promise<{ method: string; url: string; headers: Record<string, string>; body: string }[]> {
  const res = await (env as unknown as { WEBHOOK_RECEIVER: Fetcher }).WEBHOOK_RECEIVER.fetch(`http://receiver/_received/${key}`);
  return res.json();
}

/** The Standard Webhooks check, written here from the specification, independently of the server. */
async function verify(secret: string, headers: Record<string, string>, body: string): Promise<boolean> {
  const key = await crypto.subtle.importKey('raw', Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (c) => c.charCodeAt(0)), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);
  const signed = new TextEncoder().encode(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`);
  for (const sig of headers['webhook-signature'].split(' ')) {
    const [version, b64] = sig.split(',');
    if (version !== 'v1') continue;
    if (await crypto.subtle.verify('HMAC', key, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)), signed)) return true;
  }
  return false;
}

async function webhookProcess(u: TestUser, url: string) {
  const res = await call('POST', '/processes', { token: u.token, body: { name: 'Hook', trigger_type: 'manual', action: { type: 'webhook', url } } });
  expect(res.status).toBe(201);
  return { id: res.json.process.process_id as string, secret: res.json.process.webhook_secret as string };
}

const execute = async (u: TestUser, id: string) => (await call('POST', `/processes/${id}/execute`, { token: u.token })).json.execution;
const key = () => crypto.randomUUID();

describe('webhook delivery', () => {
  it('POSTs a JSON payload signed per Standard Webhooks; the test verifies it with the secret', async () => {
    const u = await newUser();
    const k = key();
    const { id, secret } = await webhookProcess(u, `https://hooks.example.com/hook/${k}`);
    const e = await execute(u, id);
    expect(e).toMatchObject({ status: 'success', message: 'Webhook responded with HTTP 200' });
    const [hit, ...more] = await received(k);
    expect(more).toHaveLength(0);
    expect(hit.method).toBe('POST');
    expect(hit.headers['content-type']).toBe('application/json');
    expect(hit.headers['webhook-id']).toBe(e.execution_id);
    const ts = Number(hit.headers['webhook-timestamp']);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(60);
    expect(hit.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await verify(secret, hit.headers, hit.body)).toBe(true);
    // A tampered body or another secret does not verify: the check above can fail.
    expect(await verify(secret, hit.headers, hit.body.replace('Hook', 'Hack'))).toBe(false);
    const otherSecret = (await webhookProcess(u, 'https://hooks.example.com/hook/other')).secret;
    expect(await verify(otherSecret, hit.headers, hit.body)).toBe(false);
    expect(JSON.parse(hit.body)).toMatchObject({
      type: 'process.executed',
      data: { process_id: id, execution_id: e.execution_id, name: 'Hook', due_at: null },
    });
  });

  it('signs exactly as the specification\'s example (secret, id, timestamp, body)', async () => {
    // The example from the Standard Webhooks specification's reference implementations.
    const sig = await signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}');
    expect(sig).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('records a non-2xx response as failed with the status', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `https://hooks.example.com/hook/${k}?status=503`);
    expect(await execute(u, id)).toMatchObject({ status: 'failed', message: 'Webhook responded with HTTP 503' });
    expect(await received(k)).toHaveLength(1);
  });

  it('never follows a redirect', async () => {
    const u = await newUser();
    const k = key();
    const target = key();
    const { id } = await webhookProcess(u, `https://hooks.example.com/hook/${k}?location=${encodeURIComponent(`https://hooks.example.com/hook/${target}`)}`);
    expect(await execute(u, id)).toMatchObject({ status: 'failed', message: 'Webhook responded with HTTP 302' });
    expect(await received(target)).toHaveLength(0);
  });

  it('times out after WEBHOOK_TIMEOUT_MS', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `https://hooks.example.com/hook/${k}?delay=5000`);
    const e = await withVars({ WEBHOOK_TIMEOUT_MS: '100' }, () => execute(u, id));
    expect(e).toMatchObject({ status: 'failed', message: 'Webhook timed out after 100 ms' });
    expect(new Date(e.completed_at).getTime() - new Date(e.started_at).getTime()).toBeLessThan(4000);
  });

  it('allows http://localhost only with the dev var, and checks the URL again at call time', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `http://localhost/hook/${k}`);
    expect(await execute(u, id)).toMatchObject({ status: 'success' });
    const e = await withVars({ WEBHOOK_ALLOW_HTTP_LOCALHOST: 'false' }, () => execute(u, id));
    expect(e).toMatchObject({ status: 'failed', message: 'Webhook refused: url must use https' });
    expect(await received(k)).toHaveLength(1);
    await withVars({ WEBHOOK_ALLOW_HTTP_LOCALHOST: 'false' }, async () => {
      const res = await call('POST', '/processes', { token: u.token, body: { name: 'x', trigger_type: 'manual', action: { type: 'webhook', url: 'http://localhost/hook/x' } } });
      expect(res.status).toBe(400);
      expect(res.json.msg).toBe('url must use https');
    });
  });
});

describe('webhook URL safety', () => {
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
  const allowed = [
    'https://hooks.example.com/path?q=1', 'https://8.8.8.8/', 'https://1.1.1.1:8443/x', 'https://172.32.0.1/', 'https://100.128.0.1/',
    'https://192.169.0.1/', 'https://[2606:4700:4700::1111]/', 'https://[::ffff:8.8.8.8]/', 'https://[64:ff9b::8.8.8.8]/',
    'https://sub.domain.co.uk/', 'https://xn--bcher-kva.example/',
  ];

  it.each(refused)('refuses %s', (url, msg) => {
    expect(webhookUrlError(url, false)).toBe(msg);
  });

  it.each(privateHosts)('refuses the private or reserved address %s', (host) => {
    expect(webhookUrlError(`https://${host}/hook`, false)).toBe('url must not point to a private, loopback or reserved address');
  });

  it.each(allowed)('allows %s', (url) => {
    expect(webhookUrlError(url, false)).toBeNull();
  });

  it('the dev var allows http to localhost, 127.0.0.1 and [::1] only', () => {
    for (const url of ['http://localhost/x', 'http://127.0.0.1:8787/x', 'http://[::1]/x']) {
      expect(webhookUrlError(url, true)).toBeNull();
      expect(webhookUrlError(url, false)).not.toBeNull();
    }
    expect(webhookUrlError('http://10.0.0.1/', true)).toBe('url must use https');
    expect(webhookUrlError('http://hooks.example.com/', true)).toBe('url must use https');
    expect(webhookUrlError('http://127.0.0.2/', true)).toBe('url must use https');
  });
});
