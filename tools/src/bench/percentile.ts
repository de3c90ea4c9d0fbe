/**
 * The `p`-th percentile (0..100) of `values`, interpolating linearly between the two
 * nearest ranks (numpy's default), so p50 of an even count is the usual median. With 200
 * samples p99 sits between the 2nd and 3rd largest: one outlier does not decide it alone.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const at = (Math.min(100, Math.max(0, p)) / 100) * (s.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo]! + (s[hi]! - s[lo]!) * (at - lo);
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** `value` against a ceiling: "ok" or "ABOVE" (latencies, memory: lower is better). */
export function verdictBelow(value: number, ceiling: number): string {
  return value < ceiling ? 'ok' : 'ABOVE';
}
