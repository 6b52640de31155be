// What the figures were measured on.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './wrangler.mjs';

const version = (pkg) => JSON.parse(readFileSync(join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')).version;

export async function machine() {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `Linux ${release()}`,
    node: process.version,
    wrangler: version('wrangler'),
    workerd: version('wrangler/node_modules/workerd'),
    socketio: version('socket.io'),
    socketioClient: version('socket.io-client'),
    ws: version('ws'),
    autocannon: version('autocannon'),
    loadAverageStart: loadavg().map((l) => l.toFixed(2)).join(' '),
  };
}
