import { defineConfig } from 'drizzle-kit';

// drizzle-kit writes flat NNNN_name.sql files that `wrangler d1 migrations apply` and the tests'
// readD1Migrations both read. Never `push`.
export default defineConfig({
  dialect: 'sqlite',
  schema: './src/db/schema.ts',
  out: './migrations',
});
