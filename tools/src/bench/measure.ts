/** MB/s with MB = 10^6 bytes, as disk and network rates are quoted. */
export function mbPerSec(bytes: number, ms: number): number {
  return ms <= 0 ? 0 : bytes / 1e6 / (ms / 1000);
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall time of `fn` in milliseconds. */
export async function timed<T>(fn: () => T | Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now();
  const value = await fn();
  return { ms: performance.now() - start, value };
}

export interface Throughput {
  /** MB/s of every run, in run order. */
  readonly runs: readonly number[];
  readonly medianMBps: number;
  readonly bestMBps: number;
}

/**
 * Runs `fn` (which processes `bytes` bytes) once to warm the JIT and caches, then `runs`
 * times measured. The median is the headline: the best alone flatters, a mean hides noise.
 */
export async function throughput(bytes: number, runs: number, fn: () => unknown): Promise<Throughput> {
  await fn();
  const rates: number[] = [];
  for (let i = 0; i < runs; i++) rates.push(mbPerSec(bytes, (await timed(fn)).ms));
  return { runs: rates, medianMBps: median(rates), bestMBps: Math.max(...rates) };
}

/** `value` against a floor: "ok" or "BELOW". */
export function verdict(value: number, target: number): string {
  return value >= target ? 'ok' : 'BELOW';
}

export function round(value: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function mib(bytes: number): string {
  return `${round(bytes / (1024 * 1024), 1)} MiB`;
}
