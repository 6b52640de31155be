/**
 * MCP server header values are secrets: stored as AES-GCM ciphertext under a key derived from the
 * MCP_HEADERS_KEY secret (HKDF-SHA-256, its own info string), with a random 12-byte IV per stored
 * value set. The stored text is `v1.<base64 iv>.<base64 ciphertext+tag>`; the plaintext is the
 * headers' JSON. The server id is the additional data, so a ciphertext copied onto another
 * server's row does not decrypt.
 */

const keys = new Map<string, Promise<CryptoKey>>();

function keyFor(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const material = await crypto.subtle.importKey('raw', new TextEncoder().encode(secret), 'HKDF', false, ['deriveKey']);
      return crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(32), info: new TextEncoder().encode('agentedge mcp headers v1') },
        material,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      );
    })();
    keys.set(secret, key);
  }
  return key;
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

export async function encryptHeaders(secret: string, serverId: string, headers: Record<string, string>): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const data = new TextEncoder().encode(JSON.stringify(headers));
  const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(serverId) }, await keyFor(secret), data);
  return `v1.${b64(iv)}.${b64(new Uint8Array(sealed))}`;
}

/** The headers, or null when the stored value does not open with this key (the key changed). */
export async function decryptHeaders(secret: string, serverId: string, stored: string): Promise<Record<string, string> | null> {
  const [version, iv, sealed] = stored.split('.');
  if (version !== 'v1' || !iv || !sealed) return null;
  try {
    const plain = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: unb64(iv), additionalData: new TextEncoder().encode(serverId) },
      await keyFor(secret),
      unb64(sealed),
    );
    return JSON.parse(new TextDecoder().decode(plain)) as Record<string, string>;
  } catch {
    return null;
  }
}
