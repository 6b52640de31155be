/** Stored timestamps are epoch milliseconds; the API speaks ISO 8601 UTC. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const isoOrNull = (ms: number | null | undefined): string | null => (ms == null ? null : iso(ms));
export const epochSeconds = (ms: number): number => Math.floor(ms / 1000);
