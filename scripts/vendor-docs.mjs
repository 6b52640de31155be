// Copies Swagger UI's browser assets from node_modules into public/docs/vendor, so /docs works
// offline and under a strict CSP (no CDN). Runs on postinstall; the copy is git-ignored.
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
let source;
try {
  source = dirname(require.resolve('swagger-ui-dist/package.json'));
} catch {
  console.warn('swagger-ui-dist is not installed (production install?): /docs will have no assets');
  process.exit(0);
}
const target = new URL('../public/docs/vendor/', import.meta.url).pathname;
mkdirSync(target, { recursive: true });
for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css', 'LICENSE']) copyFileSync(join(source, file), join(target, file));
console.log(`vendored Swagger UI into ${target}`);
