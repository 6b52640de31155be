// `npm run config:check`: validates wrangler.toml's [vars] (of `--env NAME` when given) with the
// schema the Worker itself uses (src/lib/config.ts, loaded through Node 22's type stripping), so
// a bad value stops a deploy instead of a 503 in production.
// `node scripts/check-config.mjs wrangler deploy [args]` (`npm run deploy`) then runs the command.
import { spawnSync } from 'node:child_process';
import { unstable_readConfig } from 'wrangler';
import { checkVars } from '../src/lib/config.ts';

const command = process.argv.slice(2);
const envFlag = command.findIndex((a) => a === '--env' || a === '-e' || a.startsWith('--env='));
const envName = envFlag < 0 ? undefined : command[envFlag].includes('=') ? command[envFlag].split('=')[1] : command[envFlag + 1];

const { vars } = unstable_readConfig({ config: 'wrangler.toml', env: envName });
const error = checkVars(vars ?? {});
if (error) {
  console.error(`wrangler.toml [vars]${envName ? ` (env ${envName})` : ''}: ${error.message}`);
  process.exit(1);
}
console.log(`config: ${Object.keys(vars ?? {}).length} vars valid`);

if (command.length > 0) {
  const run = spawnSync(command[0], command.slice(1), { stdio: 'inherit', shell: process.platform === 'win32' });
  process.exit(run.status ?? 1);
}
