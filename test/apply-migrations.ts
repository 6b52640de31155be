import { applyD1Migrations } from 'cloudflare:test';
import { env } from 'cloudflare:workers';

await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// Production D1 refuses a statement with more than 100 bound parameters; local D1 does not.
// Hold every test to the production limit by checking each bind() on the statement prototype.
const D1_MAX_BOUND_PARAMETERS = 100;
const proto = Object.getPrototypeOf(env.DB.prepare('SELECT 1')) as { bind: (...args: unknown[]) => unknown };
if (!(proto.bind as { limited?: boolean }).limited) {
  const bind = proto.bind;
  const limited = function (this: unknown, ...args: unknown[]) {
    if (args.length > D1_MAX_BOUND_PARAMETERS) {
      throw new Error(`D1 allows ${D1_MAX_BOUND_PARAMETERS} bound parameters per statement; this one binds ${args.length}`);
    }
    return bind.apply(this, args);
  };
  proto.bind = Object.assign(limited, { limited: true });
}
