/** Percentile (nearest rank) of numbers; sorts a copy. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export const median = (values) => percentile(values, 50);

export const round = (n, digits = 1) => (Number.isFinite(n) ? Number(n.toFixed(digits)) : n);

/** A sample's count, p50, p90, min and max (ms, one decimal), as the agents and tools phases report them. */
export const dist = (values) => ({
  n: values.length,
  p50Ms: round(percentile(values, 50), 1),
  p90Ms: round(percentile(values, 90), 1),
  minMs: round(Math.min(...values), 1),
  maxMs: round(Math.max(...values), 1),
});
