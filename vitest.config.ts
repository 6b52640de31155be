import { readFileSync } from 'node:fs';
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';
import { unstable_readConfig } from 'wrangler';

/** The [vars] of wrangler.toml as wrangler reads them, so tests can hold the production defaults to their limits. */
const productionVars = () => unstable_readConfig({ config: './wrangler.toml' }).vars as Record<string, string>;

/** README.md's "## Configuration" section: test/config.test.ts holds its var table to the schema. */
function readmeConfiguration(): string {
  const readme = readFileSync('./README.md', 'utf8');
  return /^## Configuration\s*$([\s\S]*?)(?=^## )/m.exec(readme)?.[1] ?? '';
}

const SECRETS = {
  JWT_SECRET: 'test-jwt-secret-that-is-long-enough-0123456789',
  LINK_SECRET: 'test-link-secret-that-is-long-enough-0123456789',
};
// wrangler checks `[secrets] required` against the environment; these are the test values.
Object.assign(process.env, SECRETS);

export default defineConfig(async () => ({
  plugins: [
    // The function form reads what test/global-setup.ts provides: the local model server's URL.
    cloudflareTest(async ({ inject }) => ({
      wrangler: { configPath: './wrangler.toml' },
      miniflare: {
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations('./migrations'),
          PRODUCTION_VARS: productionVars(),
          README_CONFIGURATION: readmeConfiguration(),
          ...SECRETS,
          // Cheap KDF and a limiter that stays out of the way; tests that exercise either set their own.
          PASSWORD_SCRYPT_N: '1024',
          PASSWORD_SCRYPT_R: '1',
          PASSWORD_SCRYPT_P: '1',
          RATE_LIMIT_PER_MINUTE: '1000000',
          // Webhook tests call a local receiver (below) at http://localhost.
          OUTBOUND_ALLOW_LOOPBACK: 'true',
          // The local OpenAI-compatible model server (test/model-server/server.mjs, started by
          // test/global-setup.ts); its requests pass through the receiver below to the network.
          LLM_BASE_URL: `${inject('modelServerUrl')}/v1`,
          MODEL_SERVER_URL: inject('modelServerUrl'),
          // The local MCP server (test/mcp-server/server.mjs, started by test/mcp-server/global-setup.ts).
          MCP_SERVER_URL: inject('mcpServerUrl'),
          // An optional secret (src/mcp/crypto.ts); test/mcp*.test.ts also run without it.
          MCP_HEADERS_KEY: 'test-mcp-headers-key-that-is-long-enough-0123456789',
          // Tests name models freely (test/cost-*.test.ts set the allow-list they test).
          LLM_MODELS: '*',
        },
        // Webhook tests: the Worker's outbound fetch() goes to a real local receiver (an auxiliary
        // worker) that records each call; tests read the record through WEBHOOK_RECEIVER.
        outboundService: 'webhook-receiver',
        serviceBindings: { WEBHOOK_RECEIVER: 'webhook-receiver' },
        workers: [
          { name: 'webhook-receiver', modules: true, scriptPath: './test/webhooks-receiver.js', compatibilityDate: '2026-08-01' },
        ],
      },
    })),
  ],
  test: {
    globalSetup: ['./test/global-setup.ts', './test/mcp-server/global-setup.ts'],
    setupFiles: ['./test/apply-migrations.ts'],
  },
}));
