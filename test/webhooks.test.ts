import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { signWebhook } from '../src/processes/webhook';
import { captureErrorLog } from './error-log';
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

/** Runs a process whose webhook must fail: its execution, once the failure wrote its one log line. */
async function executeFailing(u: TestUser, id: string, vars: Partial<Record<keyof Env, string>> = {}) {
  const log = captureErrorLog();
  const e = await withVars(vars, () => execute(u, id));
  expect(log.entries()).toEqual([{ msg: 'process action failed', process_id: id, execution_id: e.execution_id, error: e.message }]);
  log.restore();
  return e;
}
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
    expect(await executeFailing(u, id)).toMatchObject({ status: 'failed', message: 'Webhook responded with HTTP 503' });
    expect(await received(k)).toHaveLength(1);
  });

  it('never follows a redirect', async () => {
    const u = await newUser();
    const k = key();
    const target = key();
    const { id } = await webhookProcess(u, `https://hooks.example.com/hook/${k}?location=${encodeURIComponent(`https://hooks.example.com/hook/${target}`)}`);
    expect(await executeFailing(u, id)).toMatchObject({ status: 'failed', message: 'Webhook responded with HTTP 302' });
    expect(await received(target)).toHaveLength(0);
  });

  it('times out after WEBHOOK_TIMEOUT_MS', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `https://hooks.example.com/hook/${k}?delay=5000`);
    const e = await executeFailing(u, id, { WEBHOOK_TIMEOUT_MS: '100' });
    expect(e).toMatchObject({ status: 'failed', message: 'Webhook timed out after 100 ms' });
    expect(new Date(e.completed_at).getTime() - new Date(e.started_at).getTime()).toBeLessThan(4000);
  });

  it('allows http://localhost only with OUTBOUND_ALLOW_LOOPBACK, and checks the URL again at call time', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `http://localhost/hook/${k}`);
    expect(await execute(u, id)).toMatchObject({ status: 'success' });
    const e = await executeFailing(u, id, { OUTBOUND_ALLOW_LOOPBACK: 'false' });
    expect(e).toMatchObject({ status: 'failed', message: 'Webhook refused: url must use https' });
    expect(await received(k)).toHaveLength(1);
    await withVars({ OUTBOUND_ALLOW_LOOPBACK: 'false' }, async () => {
      const res = await call('POST', '/processes', { token: u.token, body: { name: 'x', trigger_type: 'manual', action: { type: 'webhook', url: 'http://localhost/hook/x' } } });
      expect(res.status).toBe(400);
      expect(res.json.msg).toBe('url must use https');
    });
  });

  it('allows https to a loopback address on any port with OUTBOUND_ALLOW_LOOPBACK, and refuses it without', async () => {
    const u = await newUser();
    const k = key();
    const { id } = await webhookProcess(u, `https://127.0.0.1:8443/hook/${k}`);
    expect(await execute(u, id)).toMatchObject({ status: 'success' });
    const e = await executeFailing(u, id, { OUTBOUND_ALLOW_LOOPBACK: 'false' });
    expect(e).toMatchObject({ status: 'failed', message: 'Webhook refused: url must not point to a private, loopback or reserved address' });
    expect(await received(k)).toHaveLength(1);
  });
});
