import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { chunk } from '../src/lib/chunk';

describe("production D1's limits, held locally", () => {
  it('refuses a statement binding more than 100 parameters (the test setup enforces it)', () => {
    const params = Array.from({ length: 101 }, (_, i) => i);
    const sql = `SELECT 1 WHERE 1 IN (${params.map(() => '?').join(',')})`;
    expect(() => env.DB.prepare(sql).bind(...params)).toThrow(/100 bound parameters/);
    expect(() => env.DB.prepare(sql.replace(/,\?\)$/, ')')).bind(...params.slice(1))).not.toThrow();
  });

  it('chunks id lists so no statement goes past the limit', () => {
    const parts = chunk(Array.from({ length: 1000 }, (_, i) => i));
    expect(Math.max(...parts.map((p) => p.length))).toBeLessThanOrEqual(90);
    expect(parts.flat()).toHaveLength(1000);
  });
});
