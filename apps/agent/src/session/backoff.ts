/**
 * Jittered exponential backoff ("full jitter"): after a controller outage a fleet of
 * agents does not reconnect in lockstep.
 */
export function createBackoff(options: { baseMs?: number; maxMs?: number; random?: () => number } = {}) {
  const base = options.baseMs ?? 250;
  const max = options.maxMs ?? 5_000;
  const random = options.random ?? Math.random;
  let attempt = 0;
  return {
    next(): number {
      const cap = Math.min(max, base * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return Math.round(cap / 2 + random() * (cap / 2));
    },
    reset(): void {
      attempt = 0;
    },
  };
}
