import { onTestFinished, vi } from 'vitest';

/**
 * Captures console.error for the rest of the current test, for tests that inject a fault or a
 * bad var on purpose: the log line that failure must write is part of the test's spec, so assert
 * `entries()` exactly (an unexpected error then fails that assertion instead of vanishing). The
 * Worker and its Durable Objects run in the test's isolate, so their logs are captured too.
 */
export function captureErrorLog() {
  const spy = vi.spyOn(console, 'error').mockImplementation(() => {});
  onTestFinished(() => spy.mockRestore());
  return {
    /** Each call's first argument, parsed when it is a JSON line (as src/ logs). */
    entries: () =>
      spy.mock.calls.map(([first]) => {
        try {
          return JSON.parse(String(first));
        } catch {
          return first;
        }
      }),
    restore: () => spy.mockRestore(),
  };
}
