/** A number with `digits` decimals for tables and logs, or "n/a" when there is none (null, NaN, infinite). */
export function fixedOrNa(v: number | null | undefined, digits = 3): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(digits);
}
