// Helpers for tests that talk to the local model server (test/model-server/server.mjs, started by
// test/global-setup.ts; the Worker reaches it as LLM_BASE_URL). What the server answers is scripted
// by a `[[mock {...}]]` directive in the last user message; see the server's header for the fields.
import { env } from 'cloudflare:workers';

/** One request the model server received (only requests whose directive has a `tag` are kept). */
export interface ModelRequestRecord {
  method: string;
  path: string;
  /** The JSON body as sent: model, messages, stream, stream_options, temperature, max_tokens, ... */
  body: Record<string, any>;
  /** Lower-case header names, as Node received them (`authorization` among them when sent). */
  headers: Record<string, string>;
  /** Date.now() on the server when the request arrived. */
  time: number;
  /** `pending`, `completed`, `error_status`, `hung`, `broken`, `client_closed` or `server_closed`. */
  outcome: string;
  /** Token chunks written so far. */
  chunks: number;
}

/** The directive the model server obeys, with the message text around it: mock({ tokens: 5, tag }, 'hi'). */
export function mock(directive: object, text = ''): string {
  return `${text}${text ? ' ' : ''}[[mock ${JSON.stringify(directive)}]]`;
}

/** What the model server recorded for `tag`. */
export async function modelRequests(tag: string): Promise<ModelRequestRecord[]> {
  const res = await fetch(`${env.MODEL_SERVER_URL}/_requests/${encodeURIComponent(tag)}`);
  if (!res.ok) throw new Error(`model server answered ${res.status} for /_requests/${tag}`);
  return res.json();
}

let counter = 0;
/** A tag no other test uses. */
export const uniqueTag = (prefix = 't') => `${prefix}-${Date.now().toString(36)}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
