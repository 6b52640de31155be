// Types of server.mjs (plain JavaScript, so that benchmarks and scripts run it with bare Node).
export interface ModelServer {
  /** `http://127.0.0.1:PORT`; the OpenAI-compatible API is at `${url}/v1`. */
  url: string;
  port: number;
  /** Stops listening and drops every open connection. */
  close(): Promise<void>;
}
export function startModelServer(options?: { port?: number; host?: string }): Promise<ModelServer>;
/** The `[[mock {...}]]` directive in a message's text. */
export function parseDirective(text: string): { directive: Record<string, unknown> | null; rest: string } | { error: string };
/** Word-ish tokens that keep their spaces: joining them gives back exactly `text`. */
export function tokenize(text: string): string[];
