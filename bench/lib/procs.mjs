// The processes behind one `wrangler dev` (Linux /proc): wrangler's Node process, the workerd
// that runs wrangler's proxy (listening on the public port) and the workerd that runs our Worker
// (miniflare's entry socket on a port of its own). Used to reach the Worker without the proxy and
// to attribute CPU time to each process.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

const cmdline = (pid) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};

/** utime + stime of a process (all its threads), in seconds; 0 once it is gone. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** TCP ports `pid` listens on. */
function listeningPorts(pid) {
  const inodes = new Set();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  const ports = [];
  for (const table of ['tcp', 'tcp6']) {
    for (const line of readFileSync(`/proc/${pid}/net/${table}`, 'utf8').split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length > 9 && c[3] === '0A' && inodes.has(c[9])) ports.push(parseInt(c[1].split(':')[1], 16));
    }
  }
  return ports;
}

/**
 * The processes of the `wrangler dev` started in process group `pgid` on `port`:
 * { wrangler, proxy, worker } pids and `directUrl`, the Worker's own entry socket (the listening
 * port of the Worker's workerd that answers `readyPath`; the others are its inspector and debug ports).
 */
export async function devProcesses(pgid, port, readyPath = '/ping') {
  const found = {};
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]) !== pgid) continue;
    const args = cmdline(name);
    const pid = Number(name);
    if (args[0]?.endsWith('/workerd')) {
      if (args.includes(`--socket-addr=entry=127.0.0.1:${port}`)) found.proxy = pid;
      else found.worker = pid;
    } else if (args.some((a) => a.endsWith('wrangler-dist/cli.js'))) found.wrangler = pid;
  }
  if (!found.proxy || !found.worker || !found.wrangler) throw new Error(`wrangler dev on ${port}: processes not found (${JSON.stringify(found)})`);
  for (const p of listeningPorts(found.worker)) {
    try {
      const res = await fetch(`http://127.0.0.1:${p}${readyPath}`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.ok) return { ...found, directUrl: `http://127.0.0.1:${p}` };
    } catch {
      // The inspector or debug port.
    }
  }
  throw new Error(`wrangler dev on ${port}: the Worker's own port not found`);
}

/**
 * CPU sampler over named pids plus this (the harness) process: call it to start, call the
 * result to get the CPU seconds each used since.
 */
export function cpuSampler(pids) {
  const t0 = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const h0 = process.cpuUsage();
  return () => {
    const h = process.cpuUsage(h0);
    const out = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid) - t0[k]]));
    out.harness = (h.user + h.system) / 1e6;
    return out;
  };
}
