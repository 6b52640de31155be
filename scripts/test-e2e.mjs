// `npm run test:e2e`: the browser tests (e2e/*.e2e.mjs) under node's test runner, printed to the
// terminal and written as TAP to test-results/e2e.tap (which .ci/run counts). Works from a fresh
// clone: the results folder is made here.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';

mkdirSync('test-results', { recursive: true });
const files = readdirSync('e2e').filter((f) => f.endsWith('.e2e.mjs')).map((f) => `e2e/${f}`);
const r = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout', '--test-reporter=tap', '--test-reporter-destination=test-results/e2e.tap', ...files],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
