/**
 * The one typed view of the vars (wrangler.toml [vars], README "Configuration") and the secrets.
 * One zod schema holds every var's default and its sane range; a bad value fails loudly and
 * names the var. This module imports nothing but zod and uses only erasable TypeScript, so
 * scripts/check-config.mjs can run the same schema under Node before a deploy.
 */
import { z } from 'zod';

/** A var (or secret) with a bad value: `var` names it, `message` says what it must be. */
export class ConfigError extends Error {
  readonly var: string;
  constructor(name: string, message: string) {
    super(message);
    this.name = 'ConfigError';
    this.var = name;
  }
}

function int(fallback: number, min: number, max: number, powerOfTwo = false) {
  const error = `must be ${powerOfTwo ? 'a power of two' : 'an integer'} from ${min} to ${max}`;
  return z
    .string({ error })
    .regex(/^-?\d+$/, { error })
    .transform(Number)
    .refine((n) => n >= min && n <= max && (!powerOfTwo || (n & (n - 1)) === 0), { error })
    .prefault(String(fallback));
}

const text = (fallback: string) => z.string({ error: 'must be a string' }).trim().min(1, { error: 'must not be empty' }).prefault(fallback);

const bool = (fallback: 'true' | 'false') =>
  z.enum(['true', 'false'], { error: 'must be "true" or "false"' }).transform((v) => v === 'true').prefault(fallback);

// An origin as browsers send it: scheme and host (and port if not the default), nothing else.
const isOrigin = (o: string) => URL.canParse(o) && /^https?:$/.test(new URL(o).protocol) && new URL(o).origin === o;

const origins = (fallback: string) =>
  z
    .string({ error: 'must be a comma-separated list of origins' })
    .transform((s, ctx) => {
      const list = s.split(',').map((o) => o.trim()).filter(Boolean);
      const bad = list.find((o) => !isOrigin(o));
      if (bad === undefined) return list;
      ctx.addIssue({ code: 'custom', message: `must be a comma-separated list of origins like https://app.example.com; "${bad}" is not one` });
      return z.NEVER;
    })
    .prefault(fallback);

/** An http(s) URL without query or fragment, or empty (not configured). */
const baseUrl = () =>
  z
    .string({ error: 'must be an http(s) URL or empty' })
    .trim()
    .refine((u) => u === '' || (URL.canParse(u) && /^https?:$/.test(new URL(u).protocol) && !new URL(u).search && !new URL(u).hash), {
      error: 'must be an http(s) URL such as https://api.openai.com/v1, or empty',
    })
    .transform((u) => u.replace(/\/+$/, ''))
    .prefault('');

/** MODEL_PRICES: a JSON object of `{"<model>": {"input": usd, "output": usd}}` (per 1M tokens). */
const price = z.number().finite().min(0).max(10_000);
const prices = (fallback: string) =>
  z
    .string({ error: 'must be a JSON object of {"<model>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}' })
    .transform((s, ctx) => {
      const error = 'must be a JSON object of {"<model>": {"input": <USD per 1M tokens>, "output": <USD per 1M tokens>}}';
      let json: unknown;
      try {
        json = JSON.parse(s);
      } catch {
        ctx.addIssue({ code: 'custom', message: error });
        return z.NEVER;
      }
      const parsed = z.record(z.string().min(1), z.object({ input: price, output: price }).strict()).safeParse(json);
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: error });
      return z.NEVER;
    })
    .prefault(fallback);

/** A USD amount (up to 1,000,000), or empty for none. */
const usd = (fallback: string) =>
  z
    .string({ error: 'must be an amount in USD, or empty' })
    .trim()
    .regex(/^(\d{1,7}(\.\d{1,6})?)?$/, { error: 'must be an amount in USD such as 10 or 2.50, or empty' })
    .transform((s) => (s === '' ? null : Number(s)))
    .prefault(fallback);

const MiB = 1024 * 1024;
// scrypt needs 128·N·r bytes per hash; src/auth/password.ts's SCRYPT_MAX_MEMORY_BYTES (a test holds them equal).
export const SCRYPT_MAX_MEMORY = 64 * MiB;

/** Every var with its production default: the one place defaults live. */
export const varsSchema = z.object({
  JWT_ISSUER: text('agentedge'),
  JWT_AUDIENCE: text('agentedge-api'),
  ACCESS_TOKEN_TTL_SECONDS: int(900, 1, 86_400),
  SESSION_TTL_SECONDS: int(2_592_000, 1, 31_536_000),
  REFRESH_REUSE_INTERVAL_SECONDS: int(10, 0, 3600),
  RATE_LIMIT_PER_MINUTE: int(120, 1, 1e9),
  LOGIN_MAX_FAILURES: int(10, 1, 1e9),
  LOGIN_WINDOW_SECONDS: int(900, 1, 86_400),
  REAUTH_WINDOW_SECONDS: int(300, 0, 86_400),
  PASSWORD_MIN_LENGTH: int(8, 1, 1024),
  PASSWORD_SCRYPT_N: int(16_384, 2, 1_048_576, true),
  PASSWORD_SCRYPT_R: int(8, 1, 64),
  PASSWORD_SCRYPT_P: int(5, 1, 64),
  CORS_ORIGINS: origins('http://127.0.0.1:8787,http://localhost:8787'),
  JSON_MAX_BYTES: int(MiB, 1, 100 * MiB),
  // Zero and negative lifetimes issue already-expired strings, which test/chat-socket.test.ts
  // and test/chat-lifecycle.test.ts use instead of waiting.
  CONNECTION_STRING_TTL_SECONDS: int(300, -3600, 86_400),
  MESSAGE_STRING_TTL_SECONDS: int(60, -3600, 86_400),
  MESSAGE_MAX_BYTES: int(32 * 1024, 1, MiB),
  MESSAGE_RATE_LIMIT: int(20, 1, 1e9),
  MESSAGE_RATE_WINDOW_SECONDS: int(10, 1, 86_400),
  CHAT_BATCH_WINDOW_MS: int(10, 0, 1000),
  // Socket.IO on the chat (src/durable/chat-socketio.ts): the server pings every interval (the
  // chat object's alarm does, while Socket.IO sockets are open) and drops a client silent past the timeout.
  SOCKETIO_PING_INTERVAL_MS: int(25_000, 1000, 600_000),
  SOCKETIO_PING_TIMEOUT_MS: int(20_000, 1000, 600_000),
  PACKAGE_MAX_BYTES: int(10 * MiB, 1, 100 * MiB),
  PACKAGE_MAX_UNCOMPRESSED_BYTES: int(50 * MiB, 1, 1024 * MiB),
  PACKAGE_MAX_FILES: int(1000, 1, 100_000),
  PACKAGE_MANIFEST_MAX_BYTES: int(256 * 1024, 1, 10 * MiB),
  FILE_MAX_BYTES: int(95 * MiB, 1, 5 * 1024 * MiB), // R2's single-upload limit
  SIGNED_LINK_TTL_SECONDS: int(3600, 1, 7 * 86_400), // src/files/signed-link.ts's MAX_LINK_TTL_SECONDS
  PROCESS_BATCH_SIZE: int(50, 1, 1000),
  PROCESS_MAX_ACTIVE_PER_USER: int(100, 1, 100_000),
  EXECUTION_TIMEOUT_SECONDS: int(600, 1, 86_400),
  WEBHOOK_TIMEOUT_MS: int(10_000, 1, 300_000),
  OUTBOUND_ALLOW_LOOPBACK: bool('false'),
  // The model endpoint (src/model/): an OpenAI-compatible Chat Completions base URL such as
  // https://api.openai.com/v1 or http://localhost:11434/v1 (Ollama). Empty: no model, runs are
  // refused with 503 model_unavailable naming this var.
  LLM_BASE_URL: baseUrl(),
  LLM_MODEL: text('gpt-4o-mini'),
  LLM_MAX_RETRIES: int(2, 0, 10),
  LLM_TIMEOUT_MS: int(30_000, 1, 600_000),
  LLM_MAX_RUN_MS: int(300_000, 1, 3_600_000),
  AGENT_REPLY_MAX_BYTES: int(256 * 1024, 1, 4 * MiB),
  AGENT_CONTEXT_MESSAGES: int(50, 1, 1000),
  RUN_DELTA_WINDOW_MS: int(50, 0, 5000),
  RUN_CHECKPOINT_MS: int(1000, 1, 60_000),
  SSE_KEEPALIVE_MS: int(15_000, 1, 300_000),
  // What models cost (src/cost/pricing.ts): USD per 1M input and output tokens, by model name.
  MODEL_PRICES: prices('{"gpt-4o-mini":{"input":0.15,"output":0.6}}'),
  // The operator's allow-list of model names (comma-separated; "*": any); empty: only LLM_MODEL.
  LLM_MODELS: z.string({ error: 'must be a comma-separated list of model names, or *' }).transform((s) => s.split(',').map((m) => m.trim()).filter(Boolean)).prefault(''),
  // Every user's monthly spend ceiling in USD, whatever their own budget says; empty: none.
  USER_MONTHLY_LIMIT_USD: usd('10'),
  AGENT_MAX_OUTPUT_TOKENS: int(4096, 1, 1_000_000),
  // Agents that act (README "Tools"): model calls per run, waits, delegation and size bounds.
  AGENT_MAX_STEPS: int(8, 1, 100),
  TOOL_OUTPUT_TIMEOUT_SECONDS: int(600, 1, 86_400),
  APPROVAL_TIMEOUT_SECONDS: int(3600, 1, 30 * 86_400),
  AGENT_MAX_DEPTH: int(3, 0, 10),
  AGENT_MAX_SUBRUNS: int(5, 0, 100),
  TOOL_OUTPUT_MAX_BYTES: int(16 * 1024, 1, MiB),
  MEMORY_PROMPT_MAX_BYTES: int(4096, 0, 256 * 1024),
  MCP_LOG_MAX: int(200, 1, 10_000),
});

const secret = z.string({ error: 'is not set (wrangler secret put, or .dev.vars locally)' }).min(32, { error: 'must be at least 32 characters' });
export const secretsSchema = z.object({ JWT_SECRET: secret, LINK_SECRET: secret });
/** Secrets a deployment may leave unset (never in `[secrets] required`): local model servers need no key. */
export const optionalSecretsSchema = z.object({
  LLM_API_KEY: z.string({ error: 'must be a string' }).trim().optional(),
  // AES-GCM key for MCP server header values (src/mcp/): 32+ characters; `npm run dev` generates one.
  MCP_HEADERS_KEY: z.string({ error: 'must be a string' }).min(32, { error: 'must be at least 32 characters' }).optional(),
});

/** Vars that were renamed: setting the old name (any value) is an error naming the new one. */
export const RENAMED_VARS: Record<string, string> = { WEBHOOK_ALLOW_HTTP_LOCALHOST: 'OUTBOUND_ALLOW_LOOPBACK' };

/** Each var's default, as the string wrangler.toml and the README show. */
export const varDefaults = (): Record<string, string> =>
  Object.fromEntries(Object.entries(varsSchema.shape).map(([name, s]) => [name, String(s.def.defaultValue)]));

function scryptFits(v: { PASSWORD_SCRYPT_N: number; PASSWORD_SCRYPT_R: number }, ctx: z.RefinementCtx) {
  if (128 * v.PASSWORD_SCRYPT_N * v.PASSWORD_SCRYPT_R > SCRYPT_MAX_MEMORY) {
    const message = `must keep 128·N·r (r: PASSWORD_SCRYPT_R) within ${SCRYPT_MAX_MEMORY} bytes`;
    ctx.addIssue({ code: 'custom', path: ['PASSWORD_SCRYPT_N'], message });
  }
}

const schema = varsSchema.extend(secretsSchema.shape).extend(optionalSecretsSchema.shape).superRefine(scryptFits);
const varsOnly = varsSchema.superRefine(scryptFits);

const toConfig = (v: z.output<typeof schema>) => ({
  jwtIssuer: v.JWT_ISSUER,
  jwtAudience: v.JWT_AUDIENCE,
  accessTokenTtl: v.ACCESS_TOKEN_TTL_SECONDS,
  sessionTtl: v.SESSION_TTL_SECONDS,
  refreshReuseInterval: v.REFRESH_REUSE_INTERVAL_SECONDS,
  rateLimitPerMinute: v.RATE_LIMIT_PER_MINUTE,
  loginMaxFailures: v.LOGIN_MAX_FAILURES,
  loginWindow: v.LOGIN_WINDOW_SECONDS,
  reauthWindow: v.REAUTH_WINDOW_SECONDS,
  passwordMinLength: v.PASSWORD_MIN_LENGTH,
  scrypt: { N: v.PASSWORD_SCRYPT_N, r: v.PASSWORD_SCRYPT_R, p: v.PASSWORD_SCRYPT_P },
  corsOrigins: v.CORS_ORIGINS,
  jsonMaxBytes: v.JSON_MAX_BYTES,
  connectionStringTtl: v.CONNECTION_STRING_TTL_SECONDS,
  messageStringTtl: v.MESSAGE_STRING_TTL_SECONDS,
  messageMaxBytes: v.MESSAGE_MAX_BYTES,
  messageRateLimit: v.MESSAGE_RATE_LIMIT,
  messageRateWindow: v.MESSAGE_RATE_WINDOW_SECONDS,
  chatBatchWindowMs: v.CHAT_BATCH_WINDOW_MS,
  socketIoPingIntervalMs: v.SOCKETIO_PING_INTERVAL_MS,
  socketIoPingTimeoutMs: v.SOCKETIO_PING_TIMEOUT_MS,
  packageMaxBytes: v.PACKAGE_MAX_BYTES,
  packageMaxUncompressedBytes: v.PACKAGE_MAX_UNCOMPRESSED_BYTES,
  packageMaxFiles: v.PACKAGE_MAX_FILES,
  packageManifestMaxBytes: v.PACKAGE_MANIFEST_MAX_BYTES,
  fileMaxBytes: v.FILE_MAX_BYTES,
  signedLinkTtl: v.SIGNED_LINK_TTL_SECONDS,
  processBatchSize: v.PROCESS_BATCH_SIZE,
  processMaxActivePerUser: v.PROCESS_MAX_ACTIVE_PER_USER,
  executionTimeout: v.EXECUTION_TIMEOUT_SECONDS,
  webhookTimeoutMs: v.WEBHOOK_TIMEOUT_MS,
  outboundAllowLoopback: v.OUTBOUND_ALLOW_LOOPBACK,
  llm: {
    baseUrl: v.LLM_BASE_URL || null,
    apiKey: v.LLM_API_KEY || null,
    model: v.LLM_MODEL,
    maxRetries: v.LLM_MAX_RETRIES,
    timeoutMs: v.LLM_TIMEOUT_MS,
    maxRunMs: v.LLM_MAX_RUN_MS,
  },
  agentReplyMaxBytes: v.AGENT_REPLY_MAX_BYTES,
  agentContextMessages: v.AGENT_CONTEXT_MESSAGES,
  runDeltaWindowMs: v.RUN_DELTA_WINDOW_MS,
  runCheckpointMs: v.RUN_CHECKPOINT_MS,
  sseKeepaliveMs: v.SSE_KEEPALIVE_MS,
  cost: {
    prices: v.MODEL_PRICES,
    /** null: any model; else the allowed names (LLM_MODEL alone when LLM_MODELS is empty). */
    allowedModels: v.LLM_MODELS.includes('*') ? null : v.LLM_MODELS.length ? v.LLM_MODELS : [v.LLM_MODEL],
    userMonthlyLimitMicros: v.USER_MONTHLY_LIMIT_USD === null ? null : Math.round(v.USER_MONTHLY_LIMIT_USD * 1_000_000),
    maxOutputTokens: v.AGENT_MAX_OUTPUT_TOKENS,
  },
  tools: {
    maxSteps: v.AGENT_MAX_STEPS,
    outputTimeoutSeconds: v.TOOL_OUTPUT_TIMEOUT_SECONDS,
    approvalTimeoutSeconds: v.APPROVAL_TIMEOUT_SECONDS,
    maxDepth: v.AGENT_MAX_DEPTH,
    maxSubruns: v.AGENT_MAX_SUBRUNS,
    outputMaxBytes: v.TOOL_OUTPUT_MAX_BYTES,
    memoryPromptMaxBytes: v.MEMORY_PROMPT_MAX_BYTES,
    mcpLogMax: v.MCP_LOG_MAX,
    mcpHeadersKey: v.MCP_HEADERS_KEY || null,
  },
});

export type Config = ReturnType<typeof toConfig>;

function renamedError(raw: Record<string, unknown>): ConfigError | null {
  const old = Object.keys(RENAMED_VARS).find((name) => raw[name] !== undefined);
  return old ? new ConfigError(old, `${old} was renamed: set ${RENAMED_VARS[old]} instead`) : null;
}

/** The first issue (in schema order) as a ConfigError. */
function firstError(error: z.ZodError): ConfigError {
  const issue = error.issues[0];
  const name = String(issue.path[0] ?? 'config');
  return new ConfigError(name, `${name} ${issue.message}`);
}

function parse(raw: Record<string, unknown>): Config | ConfigError {
  const renamed = renamedError(raw);
  if (renamed) return renamed;
  const result = schema.safeParse(raw);
  return result.success ? toConfig(result.data) : firstError(result.error);
}

/**
 * For scripts/check-config.mjs: the [vars] a deploy would ship, without the secrets (wrangler
 * checks those against `[secrets] required`). A var the schema does not know is an error too:
 * a misspelt name would otherwise leave its default in force without a word.
 */
export function checkVars(vars: Record<string, unknown>): ConfigError | null {
  const renamed = renamedError(vars);
  if (renamed) return renamed;
  const unknown = Object.keys(vars).find((name) => !(name in varsSchema.shape));
  if (unknown) return new ConfigError(unknown, `${unknown} is not a known var (see README "Configuration")`);
  const result = varsOnly.safeParse(vars);
  return result.success ? null : firstError(result.error);
}

const NAMES = [...Object.keys(varsSchema.shape), ...Object.keys(secretsSchema.shape), ...Object.keys(optionalSecretsSchema.shape), ...Object.keys(RENAMED_VARS)];

// Parsed once per env object. The raw values are kept beside the result because tests change
// vars on the shared env in place (test/helpers.ts withVars); comparing ~35 strings is far
// cheaper than parsing again.
const cache = new WeakMap<object, { raw: unknown[]; result: Config | ConfigError }>();

function resolve(env: Env): Config | ConfigError {
  const source = env as unknown as Record<string, unknown>;
  const raw = NAMES.map((name) => source[name]);
  const hit = cache.get(env);
  if (hit && hit.raw.every((v, i) => v === raw[i])) return hit.result;
  const result = parse(Object.fromEntries(NAMES.map((name, i) => [name, raw[i]])));
  // Logged once per parse, not per request; the message never holds a secret's value.
  if (result instanceof ConfigError) console.error(JSON.stringify({ error: 'config_invalid', var: result.var, msg: result.message }));
  cache.set(env, { raw, result });
  return result;
}

/** The typed config; throws a ConfigError naming the var while a var or secret is bad. */
export function config(env: Env): Config {
  const result = resolve(env);
  if (result instanceof ConfigError) throw result;
  return result;
}

/** Why the config is invalid, or null; never throws (the app's guard and the chat object use it). */
export function configError(env: Env): ConfigError | null {
  const result = resolve(env);
  return result instanceof ConfigError ? result : null;
}
