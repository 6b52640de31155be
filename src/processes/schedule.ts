import { Cron } from 'croner';

/**
 * Cron schedules, parsed and stepped by croner (never by hand). Only classic 5-field
 * expressions are accepted: the Worker's cron trigger fires once a minute, so a seconds field
 * would promise a precision it cannot keep, and one grammar keeps schedules portable.
 */
export function scheduleError(expr: string): string | null {
  if (expr.trim().split(/\s+/).length !== 5) return 'schedule must be a 5-field cron expression';
  try {
    return pattern(expr, 'UTC').nextRun() ? null : 'schedule never fires';
  } catch (err) {
    return `Invalid schedule: ${(err as Error).message.replace(/^CronPattern: /, '')}`;
  }
}

/** An IANA zone name the runtime's ICU knows (`UTC`, `Europe/Berlin`). */
export function isTimezone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const pattern = (expr: string, timezone: string) => new Cron(expr.trim(), { mode: '5-part', timezone, paused: true });

/**
 * The first run strictly after `from` (epoch ms), or null when the expression never fires again
 * (for example 31 February). Computed from "now", so a process missed during downtime runs once.
 */
export function nextRun(expr: string, timezone: string, from: number): number | null {
  return pattern(expr, timezone).nextRun(new Date(from))?.getTime() ?? null;
}
