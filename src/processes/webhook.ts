import { outboundUrlError } from '../lib/outbound-url';

const SECRET_PREFIX = 'whsec_';

const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const fromBase64 = (s: string) => Uint8Array.from(atob(s), (ch) => ch.charCodeAt(0));

/** A Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + toBase64(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed by the secret's decoded bytes,
 * as the Standard Webhooks specification says, so receivers can use its libraries to verify.
 */
export async function signWebhook(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    fromBase64(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  );
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${toBase64(new Uint8Array(mac))}`;
}

export interface WebhookCall {
  url: string;
  secret: string;
  /** The `webhook-id`: the execution id, stable for the one delivery it names. */
  id: string;
  payload: unknown;
  timeoutMs: number;
  allowLoopback: boolean;
}

/** Posts the signed payload; throws with a message fit for the execution record on any failure. */
export async function callWebhook(call: WebhookCall): Promise<string> {
  // Checked again at call time: the rules may be stricter now than when the process was created.
  const refused = outboundUrlError(call.url, call.allowLoopback);
  if (refused) throw new Error(`Webhook refused: ${refused}`);
  const body = JSON.stringify(call.payload);
  const timestamp = Math.floor(Date.now() / 1000);
  let res: Response;
  try {
    res = await fetch(call.url, {
      method: 'POST',
      body,
      // A redirect could point anywhere, including a private address: never follow one.
      redirect: 'manual',
      signal: AbortSignal.timeout(call.timeoutMs),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'agentedge-webhooks/1',
        'webhook-id': call.id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': await signWebhook(call.secret, call.id, timestamp, body),
      },
    });
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new Error(`Webhook timed out after ${call.timeoutMs} ms`);
    throw new Error(`Webhook request failed: ${(err as Error)?.message ?? String(err)}`);
  }
  // The body is not needed; cancel it so the connection is released.
  await res.body?.cancel();
  if (res.status < 200 || res.status > 299) throw new Error(`Webhook responded with HTTP ${res.status}`);
  return `Webhook responded with HTTP ${res.status}`;
}
