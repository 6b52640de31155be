import type { D1Migration } from 'cloudflare:test';

declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: D1Migration[];
      /** The [vars] of wrangler.toml as deployed, before the test overrides (see vitest.config.ts). */
      PRODUCTION_VARS: Record<string, string>;
      /** README.md's "## Configuration" section (see vitest.config.ts). */
      README_CONFIGURATION: string;
      /** The local model server (test/model-server/server.mjs) as `http://127.0.0.1:PORT`; LLM_BASE_URL is it plus `/v1`. */
      MODEL_SERVER_URL: string;
    }
  }
}
