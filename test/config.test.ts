import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { SCRYPT_MAX_MEMORY_BYTES } from '../src/auth/password';
import { MAX_LINK_TTL_SECONDS } from '../src/files/signed-link';
import { ConfigError, SCRYPT_MAX_MEMORY, checkVars, config, configError, optionalSecretsSchema, secretsSchema, varDefaults, varsSchema } from '../src/lib/config';
import { captureErrorLog } from './error-log';
import { call, withVars } from './helpers';

const SECRETS = { JWT_SECRET: 'j'.repeat(32), LINK_SECRET: 'l'.repeat(32) };
/** A fresh env object: the secrets plus `vars`, everything else left to the defaults. */
const envWith = (vars: Record<string, string | undefined> = {}) => ({ ...SECRETS, ...vars }) as unknown as Env;

/** The ConfigError that config() throws for `vars`, checked against configError(), which must not throw. */
function errorFor(vars: Record<string, string | undefined>): ConfigError {
  const log = captureErrorLog();
  const e = envWith(vars);
  const quiet = configError(e);
  expect(() => config(e)).toThrow(ConfigError);
  expect(quiet).toBeInstanceOf(ConfigError);
  // Logged once per parse (the second read is cached), naming the var.
  expect(log.entries()).toEqual([{ error: 'config_invalid', var: quiet!.var, msg: quiet!.message }]);
  log.restore();
  return quiet!;
}

describe('config: one schema, defaults in one place', () => {
  it('wrangler.toml [vars] hold exactly the schema vars, each at its schema default', () => {
    expect(env.PRODUCTION_VARS).toEqual(varDefaults());
    expect(config(envWith(env.PRODUCTION_VARS))).toEqual(config(envWith()));
  });

  it("README's var table lists every schema var with its default, and no other", () => {
    const [secrets, vars] = env.README_CONFIGURATION.split(/^\| var \| default \| meaning \|$/m);
    expect(vars, 'README has a "| var | default | meaning |" table').toBeDefined();
    const rows = [...vars.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)].map((m) => [m[1], m[2]]);
    const tableRows = vars.split('\n').filter((line) => /^\| `/.test(line));
    expect(rows).toHaveLength(tableRows.length); // every row has the one-var, backticked-default form
    expect(Object.fromEntries(rows)).toEqual(varDefaults());
    expect(rows.map(([name]) => name)).toEqual(Object.keys(varsSchema.shape)); // schema order, no duplicates
    const secretNames = [...secrets.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((m) => m[1]);
    expect(secretNames).toEqual([...Object.keys(secretsSchema.shape), ...Object.keys(optionalSecretsSchema.shape)]);
  });

  it('keeps the ceilings the code itself enforces', () => {
    expect(SCRYPT_MAX_MEMORY).toBe(SCRYPT_MAX_MEMORY_BYTES);
    expect(config(envWith({ SIGNED_LINK_TTL_SECONDS: String(MAX_LINK_TTL_SECONDS) })).signedLinkTtl).toBe(MAX_LINK_TTL_SECONDS);
    expect(errorFor({ SIGNED_LINK_TTL_SECONDS: String(MAX_LINK_TTL_SECONDS + 1) }).var).toBe('SIGNED_LINK_TTL_SECONDS');
  });

  it('parses the values it accepts', () => {
    const c = config(envWith({
      RATE_LIMIT_PER_MINUTE: '7', OUTBOUND_ALLOW_LOOPBACK: 'true', CHAT_BATCH_WINDOW_MS: '0', REFRESH_REUSE_INTERVAL_SECONDS: '0',
      CORS_ORIGINS: ' https://app.example.com, http://localhost:3000 ,', PASSWORD_SCRYPT_N: '1024', JWT_ISSUER: 'issuer',
    }));
    expect(c).toMatchObject({
      rateLimitPerMinute: 7, outboundAllowLoopback: true, chatBatchWindowMs: 0, refreshReuseInterval: 0,
      corsOrigins: ['https://app.example.com', 'http://localhost:3000'], scrypt: { N: 1024, r: 8, p: 5 }, jwtIssuer: 'issuer',
    });
    expect(config(envWith({ CORS_ORIGINS: '' })).corsOrigins).toEqual([]);
    expect(config(envWith()).outboundAllowLoopback).toBe(false);
  });
});

describe('config: a bad value fails loudly and names the var', () => {
  const bad: [string, string | undefined][] = [
    ['RATE_LIMIT_PER_MINUTE', '12O'], ['RATE_LIMIT_PER_MINUTE', '1.5'], ['RATE_LIMIT_PER_MINUTE', ''], ['RATE_LIMIT_PER_MINUTE', '0'],
    ['RATE_LIMIT_PER_MINUTE', '-5'], ['RATE_LIMIT_PER_MINUTE', '1e3'], ['RATE_LIMIT_PER_MINUTE', ' 120'], ['ACCESS_TOKEN_TTL_SECONDS', '86401'],
    ['SESSION_TTL_SECONDS', '0'], ['FILE_MAX_BYTES', '99999999999'], ['CHAT_BATCH_WINDOW_MS', '-1'], ['MESSAGE_STRING_TTL_SECONDS', 'sixty'],
    ['PASSWORD_SCRYPT_N', '1000'], ['PASSWORD_SCRYPT_N', '1'], ['PASSWORD_SCRYPT_P', '0'],
    ['OUTBOUND_ALLOW_LOOPBACK', 'yes'], ['OUTBOUND_ALLOW_LOOPBACK', 'TRUE'], ['OUTBOUND_ALLOW_LOOPBACK', '1'], ['OUTBOUND_ALLOW_LOOPBACK', ''],
    ['CORS_ORIGINS', '*'], ['CORS_ORIGINS', 'https://app.example.com/'], ['CORS_ORIGINS', 'app.example.com'],
    ['CORS_ORIGINS', 'https://a.example.com,https://b.example.com/path'], ['CORS_ORIGINS', 'ftp://a.example.com'], ['CORS_ORIGINS', 'https://a.example.com:443'],
    ['JWT_ISSUER', ''], ['JWT_AUDIENCE', '   '],
    ['JWT_SECRET', undefined], ['JWT_SECRET', 'x'.repeat(31)], ['LINK_SECRET', undefined], ['LINK_SECRET', ''],
  ];

  it.each(bad)('%s = %j', (name, value) => {
    const e = errorFor({ [name]: value });
    expect(e.var).toBe(name);
    expect(e.message).toMatch(new RegExp(`^${name} `));
  });

  it('never echoes a secret', () => {
    const e = errorFor({ JWT_SECRET: 'hunter2-hunter2' });
    expect(e.message).toBe('JWT_SECRET must be at least 32 characters');
  });

  it('refuses scrypt parameters that need more than the memory ceiling', () => {
    const e = errorFor({ PASSWORD_SCRYPT_N: '65536', PASSWORD_SCRYPT_R: '16' });
    expect(e.var).toBe('PASSWORD_SCRYPT_N');
    expect(e.message).toContain('PASSWORD_SCRYPT_R');
  });

  it('setting the renamed WEBHOOK_ALLOW_HTTP_LOCALHOST (any value) is an error naming OUTBOUND_ALLOW_LOOPBACK', () => {
    for (const value of ['true', 'false', '']) {
      const e = errorFor({ WEBHOOK_ALLOW_HTTP_LOCALHOST: value });
      expect(e.var).toBe('WEBHOOK_ALLOW_HTTP_LOCALHOST');
      expect(e.message).toContain('OUTBOUND_ALLOW_LOOPBACK');
    }
  });

  it('checkVars (the deploy check) accepts wrangler.toml and refuses bad, renamed and unknown vars', () => {
    expect(checkVars(env.PRODUCTION_VARS)).toBeNull();
    expect(checkVars({ ...env.PRODUCTION_VARS, MESSAGE_MAX_BYTES: '32k' })?.var).toBe('MESSAGE_MAX_BYTES');
    expect(checkVars({ ...env.PRODUCTION_VARS, WEBHOOK_ALLOW_HTTP_LOCALHOST: 'false' })?.message).toContain('OUTBOUND_ALLOW_LOOPBACK');
    expect(checkVars({ ...env.PRODUCTION_VARS, RATE_LIMIT_PER_MINTUE: '60' })?.var).toBe('RATE_LIMIT_PER_MINTUE');
    expect(checkVars({ ...env.PRODUCTION_VARS, PASSWORD_SCRYPT_R: '64' })?.var).toBe('PASSWORD_SCRYPT_N');
  });
});

describe('config: parsed once per env', () => {
  it('returns the same parsed object until a var of that env changes', () => {
    const e = envWith({ RATE_LIMIT_PER_MINUTE: '5' });
    const first = config(e);
    expect(config(e)).toBe(first);
    (e as unknown as Record<string, string>).RATE_LIMIT_PER_MINUTE = '6';
    expect(config(e).rateLimitPerMinute).toBe(6);
    (e as unknown as Record<string, string>).RATE_LIMIT_PER_MINUTE = '6O';
    const log = captureErrorLog();
    expect(configError(e)?.var).toBe('RATE_LIMIT_PER_MINUTE');
    expect(configError(e)?.var).toBe('RATE_LIMIT_PER_MINUTE');
    expect(log.entries()).toEqual([expect.objectContaining({ error: 'config_invalid', var: 'RATE_LIMIT_PER_MINUTE' })]);
    expect(config(envWith({ RATE_LIMIT_PER_MINUTE: '5' }))).not.toBe(first);
  });
});

describe('while the config is invalid', () => {
  it('every route but /ping and /health answers 503 config_invalid naming the var', async () => {
    const log = captureErrorLog();
    await withVars({ RATE_LIMIT_PER_MINUTE: '12O' }, async () => {
      for (const [method, path] of [['GET', '/workspace'], ['POST', '/auth/login'], ['POST', '/register'], ['GET', '/openapi.json'], ['GET', '/no/such/route']]) {
        const res = await call(method, path, { body: method === 'POST' ? { email: 'a@b.co', password: 'x' } : undefined });
        expect(res.status, `${method} ${path}`).toBe(503);
        expect(res.json).toEqual({ msg: expect.stringContaining('RATE_LIMIT_PER_MINUTE'), code: 'config_invalid', var: 'RATE_LIMIT_PER_MINUTE', request_id: expect.any(String) });
        expect(res.headers.get('x-request-id')).toBe(res.json.request_id);
      }
      const ping = await call('GET', '/ping');
      expect(ping.status).toBe(200);
      expect(ping.json).toEqual({ msg: 'pong' });
      expect(ping.headers.get('x-request-id')).toBeTruthy();
      const health = await call('GET', '/health');
      expect(health.status).toBe(503);
      expect(health.json.status).toBe('degraded');
      expect(health.json.checks.d1).toEqual({ ok: true });
      expect(health.json.checks.config).toEqual({ ok: false, var: 'RATE_LIMIT_PER_MINUTE', error: expect.stringContaining('RATE_LIMIT_PER_MINUTE') });
    });
    expect((await call('GET', '/health')).json.checks.config).toEqual({ ok: true });
    expect((await call('GET', '/workspace')).status).toBe(401);
    // One log line for the bad var, however many requests it refused: config is parsed once per change.
    expect(log.entries()).toEqual([
      { error: 'config_invalid', var: 'RATE_LIMIT_PER_MINUTE', msg: 'RATE_LIMIT_PER_MINUTE must be an integer from 1 to 1000000000' },
    ]);
  });

  it('a short secret or the renamed var is reported the same way', async () => {
    const log = captureErrorLog();
    await withVars({ LINK_SECRET: 'short' }, async () => {
      const res = await call('GET', '/workspace');
      expect(res.status).toBe(503);
      expect(res.json.var).toBe('LINK_SECRET');
      expect(res.text).not.toContain('short');
      expect((await call('GET', '/health')).json.checks.config.var).toBe('LINK_SECRET');
    });
    await withVars({ WEBHOOK_ALLOW_HTTP_LOCALHOST: 'true' } as Partial<Record<keyof Env, string>>, async () => {
      const res = await call('GET', '/workspace');
      expect(res.status).toBe(503);
      expect(res.json.var).toBe('WEBHOOK_ALLOW_HTTP_LOCALHOST');
      expect(res.json.msg).toContain('OUTBOUND_ALLOW_LOOPBACK');
    });
    expect((await call('GET', '/ping')).status).toBe(200);
    expect(log.entries()).toEqual([
      { error: 'config_invalid', var: 'LINK_SECRET', msg: 'LINK_SECRET must be at least 32 characters' },
      { error: 'config_invalid', var: 'WEBHOOK_ALLOW_HTTP_LOCALHOST', msg: 'WEBHOOK_ALLOW_HTTP_LOCALHOST was renamed: set OUTBOUND_ALLOW_LOOPBACK instead' },
    ]);
  });
});
