// Writes /openapi.json to dist/openapi.json without a network or a running Worker: vite's module
// runner loads src/app.ts in node, and src/system/docs.ts builds the document as the route does.
//   node scripts/openapi.mjs          the document only
//   node scripts/openapi.mjs types    and its TypeScript types (openapi-typescript) in dist/openapi.d.ts
//   node scripts/openapi.mjs lint     and lints it with @redocly/cli (redocly.yaml), offline
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { runnerImport } from 'vite';

const root = new URL('..', import.meta.url).pathname;
const load = async (path) => (await runnerImport(root + path, { configFile: false, logLevel: 'error', root })).module;
const { app } = await load('src/app.ts');
const { openApiDocument } = await load('src/system/docs.ts');

mkdirSync(`${root}dist`, { recursive: true });
const out = `${root}dist/openapi.json`;
writeFileSync(out, `${JSON.stringify(openApiDocument(app), null, 2)}\n`);
console.log(`wrote ${out}`);

const bin = (name) => `${root}node_modules/.bin/${name}`;
const run = (cmd, args, env = {}) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const task = process.argv[2];
if (task === 'types') {
  // openapi-typescript makes every field with a `default` required unless told not to, which
  // suits answers but not requests: a client may leave out `priority`, `limit` or `timezone`.
  const types = `${root}dist/openapi.d.ts`;
  run(bin('openapi-typescript'), [out, '--output', types, '--default-non-nullable=false']);
  checkDefaultsOptional(JSON.parse(readFileSync(out, 'utf8')), readFileSync(types, 'utf8'));
}
if (task === 'lint') {
  // No telemetry, no update check: CI runs offline.
  run(bin('redocly'), ['lint', out, '--config', `${root}redocly.yaml`], { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' });
}

/** Every request schema's field with a default is `field?:` in the generated types. */
function checkDefaultsOptional(doc, types) {
  const bodies = Object.values(doc.paths).flatMap((item) => Object.values(item));
  const refs = new Set(bodies.map((op) => op.requestBody?.content?.['application/json']?.schema?.$ref).filter(Boolean));
  const wrong = [];
  for (const ref of refs) {
    const name = ref.split('/').pop();
    const block = new RegExp(`\\n( +)${name}: \\{\\n([\\s\\S]*?)\\n\\1\\};`).exec(types)?.[2] ?? '';
    for (const [field, schema] of Object.entries(doc.components.schemas[name].properties ?? {})) {
      if (schema.default !== undefined && !block.includes(`${field}?:`)) wrong.push(`${name}.${field}`);
    }
  }
  if (wrong.length) {
    console.error(`fields with a default are required in dist/openapi.d.ts: ${wrong.join(', ')}`);
    process.exit(1);
  }
  console.log(`request fields with a default are optional in dist/openapi.d.ts (${refs.size} request schemas)`);
}
