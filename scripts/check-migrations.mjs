// Fails when src/db/schema.ts and migrations/ disagree: drizzle-kit generates into a scratch
// copy of migrations/ and must find nothing to write.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';

// drizzle-kit takes `--out` relative to the project.
const scratch = `node_modules/.cache/migrations-check-${process.pid}`;
mkdirSync(scratch, { recursive: true });
try {
  cpSync('migrations', scratch, { recursive: true });
  const before = readdirSync(scratch).filter((f) => f.endsWith('.sql')).length;
  const gen = spawnSync('drizzle-kit', ['generate', '--dialect', 'sqlite', '--schema', './src/db/schema.ts', '--out', scratch, '--name', 'drift'], { encoding: 'utf8' });
  if (gen.status !== 0) {
    console.error(gen.stdout, gen.stderr);
    process.exit(1);
  }
  const after = readdirSync(scratch).filter((f) => f.endsWith('.sql')).length;
  if (after !== before) {
    console.error('src/db/schema.ts has changes with no migration: run `npm run db:generate -- --name <change>` and commit it.');
    process.exit(1);
  }
  const check = spawnSync('drizzle-kit', ['check', '--dialect', 'sqlite', '--out', 'migrations'], { stdio: 'inherit' });
  if (check.status !== 0) process.exit(1);
  console.log('schema and migrations agree');
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
