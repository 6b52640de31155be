// The fan-out harness, the same for both servers: R receivers and S senders on one chat (room);
// each sender sends M messages, each after the previous one's ack. Every delivery to a receiver
// is timed against the send time carried in the content (one process, one clock).
import { percentile, round } from './lib/stats.mjs';

// BENCH_FANOUT_PER_SENDER shortens every fan-out (e.g. 50 on a machine too loaded for the full
// 250 within the timeout); its figures do not compare with a full run's.
export const FANOUT = { receivers: 100, senders: 4, perSender: Number(process.env.BENCH_FANOUT_PER_SENDER || 250) };
const CONNECT_PARALLEL = 10;
const DELIVERY_TIMEOUT_MS = 120_000;

const now = () => performance.now();
const contentFor = (sender, i) => `${now().toFixed(3)}|s${sender}|m${i}|fan-out benchmark message`;
const sentAt = (content) => Number(content.slice(0, content.indexOf('|')));

/**
 * `adapter` gives connectReceiver(onContent) and connectSender(onContent), each resolving when
 * the client may send/receive, with `send(content)` (senders: resolves on the ack) and close().
 * `cpu`, if given, starts a CPU sampler (lib/procs.mjs cpuSampler) at the first send; its reading
 * at the last delivery is returned as `cpu` (seconds by process).
 */
export async function runFanout(adapter, { receivers, senders, perSender } = FANOUT, { cpu } = {}) {
  const total = senders * perSender;
  const expected = receivers * total;
  const latencies = new Float64Array(expected);
  let delivered = 0;
  let lastDelivery = 0;
  let done;
  const allDelivered = new Promise((resolve) => (done = resolve));
  const counts = new Uint32Array(receivers);

  const onReceiver = (r) => (content) => {
    const t = now();
    if (delivered < expected) latencies[delivered] = t - sentAt(content);
    delivered++;
    counts[r]++;
    lastDelivery = t;
    if (delivered === expected) done();
  };

  const clients = [];
  try {
    for (let r = 0; r < receivers; r += CONNECT_PARALLEL) {
      const batch = [];
      for (let k = r; k < Math.min(receivers, r + CONNECT_PARALLEL); k++) batch.push(adapter.connectReceiver(onReceiver(k)));
      clients.push(...(await Promise.all(batch)));
    }
    const senderClients = await Promise.all(Array.from({ length: senders }, () => adapter.connectSender(() => {})));
    clients.push(...senderClients);

    const sampler = cpu?.();
    const start = now();
    const sendLoops = senderClients.map(async (client, s) => {
      for (let i = 0; i < perSender; i++) await client.send(contentFor(s, i));
    });
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`only ${delivered} of ${expected} deliveries in ${DELIVERY_TIMEOUT_MS} ms`)), DELIVERY_TIMEOUT_MS);
    });
    await Promise.race([Promise.all([...sendLoops, allDelivered]), timeout]).finally(() => clearTimeout(timer));
    const cpuUsed = sampler?.();
    const seconds = (lastDelivery - start) / 1000;
    const lat = latencies.subarray(0, Math.min(delivered, expected));
    return {
      messages: total,
      deliveries: delivered,
      seconds: round(seconds, 2),
      deliveriesPerSecond: Math.round(delivered / seconds),
      p50Ms: round(percentile(lat, 50), 2),
      p99Ms: round(percentile(lat, 99), 2),
      minPerReceiver: Math.min(...counts),
      ...(cpuUsed && { cpu: cpuUsed }),
    };
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}
