/**
 * D1 allows 100 bound parameters per statement: split long id lists so one statement never
 * carries more than `size` of them (leaving room for the statement's other parameters).
 */
export function chunk<T>(items: readonly T[], size = 90): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
