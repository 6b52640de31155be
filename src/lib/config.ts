/** Typed view of the vars in wrangler.toml, read per request so tests can change one. */
export function config(env: Env) {
  const int = (value: string | undefined, fallback: number) => {
    const n = Number(value);
    return value !== undefined && value !== '' && Number.isFinite(n) ? n : fallback;
  };
  return {
    jwtIssuer: env.JWT_ISSUER || 'agentedge',
    jwtAudience: env.JWT_AUDIENCE || 'agentedge-api',
    accessTokenTtl: int(env.ACCESS_TOKEN_TTL_SECONDS, 900),
    sessionTtl: int(env.SESSION_TTL_SECONDS, 30 * 24 * 3600),
    refreshReuseInterval: int(env.REFRESH_REUSE_INTERVAL_SECONDS, 10),
    rateLimitPerMinute: int(env.RATE_LIMIT_PER_MINUTE, 120),
    loginMaxFailures: int(env.LOGIN_MAX_FAILURES, 10),
    loginWindow: int(env.LOGIN_WINDOW_SECONDS, 900),
    passwordMinLength: int(env.PASSWORD_MIN_LENGTH, 8),
    scrypt: {
      N: int(env.PASSWORD_SCRYPT_N, 16384),
      r: int(env.PASSWORD_SCRYPT_R, 8),
      p: int(env.PASSWORD_SCRYPT_P, 5),
    },
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter(Boolean),
    jsonMaxBytes: int(env.JSON_MAX_BYTES, 1024 * 1024),
    connectionStringTtl: int(env.CONNECTION_STRING_TTL_SECONDS, 300),
    messageStringTtl: int(env.MESSAGE_STRING_TTL_SECONDS, 60),
    messageMaxBytes: int(env.MESSAGE_MAX_BYTES, 32 * 1024),
    messageRateLimit: int(env.MESSAGE_RATE_LIMIT, 20),
    messageRateWindow: int(env.MESSAGE_RATE_WINDOW_SECONDS, 10),
    chatBatchWindowMs: int(env.CHAT_BATCH_WINDOW_MS, 10),
    packageMaxBytes: int(env.PACKAGE_MAX_BYTES, 10 * 1024 * 1024),
    packageMaxUncompressedBytes: int(env.PACKAGE_MAX_UNCOMPRESSED_BYTES, 50 * 1024 * 1024),
    packageMaxFiles: int(env.PACKAGE_MAX_FILES, 1000),
    packageManifestMaxBytes: int(env.PACKAGE_MANIFEST_MAX_BYTES, 256 * 1024),
    fileMaxBytes: int(env.FILE_MAX_BYTES, 95 * 1024 * 1024),
    signedLinkTtl: int(env.SIGNED_LINK_TTL_SECONDS, 3600),
    processBatchSize: int(env.PROCESS_BATCH_SIZE, 50),
    executionTimeout: int(env.EXECUTION_TIMEOUT_SECONDS, 600),
    webhookTimeoutMs: int(env.WEBHOOK_TIMEOUT_MS, 10_000),
    webhookAllowHttpLocalhost: env.WEBHOOK_ALLOW_HTTP_LOCALHOST === 'true',
  };
}

export type Config = ReturnType<typeof config>;
