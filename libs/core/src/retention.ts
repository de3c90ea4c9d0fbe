import { formatDuration, parseDuration } from './duration.js';
import { invalidArgument } from './errors.js';

/**
 * Retention policy (`--retention SPEC`): comma-separated rules; a point is kept when ANY rule
 * keeps it, and the newest point (highest seq) is always kept.
 *
 *   all:WINDOW        keep every point younger than WINDOW            all:24h
 *   EVERY:WINDOW      among points younger than WINDOW, keep the newest of each EVERY-long
 *                     time bucket                                       10m:7d  1h:30d  1d:365d
 *   last:N            keep the N newest points                          last:10
 *   label:WINDOW      keep labeled checkpoints younger than WINDOW      label:90d
 *
 * WINDOW is a duration (units s m h d w y, e.g. 36h, 1h30m) or `forever`. "Younger than"
 * is strict: a point exactly WINDOW old is out. Age = now - time, a future time counts as age 0.
 * Buckets are aligned to the Unix epoch (UTC): `1h` buckets start on the hour, `1d` at 00:00 UTC,
 * `1w` on Thursdays, `1y` every 365 days — fixed lengths, so a bucket never moves as time
 * passes and its kept point stays kept until a newer point lands in the same bucket.
 * "Newest" means highest seq (the latest state even if the clock stepped back).
 * Labeled points get no special treatment unless the policy has a `label:` rule.
 * The empty spec keeps everything.
 * Example: all:24h,10m:7d,1h:30d,1d:365d,label:forever,last:10
 */

export type RetentionRule =
  | { readonly kind: 'all'; readonly windowMs: number }
  | { readonly kind: 'every'; readonly intervalMs: number; readonly windowMs: number }
  | { readonly kind: 'last'; readonly count: number }
  | { readonly kind: 'label'; readonly windowMs: number };

export interface RetentionPolicy {
  /** No rules: keep everything. */
  readonly rules: readonly RetentionRule[];
}

export interface RetentionPoint {
  readonly seq: number;
  readonly timeMs: number;
  readonly label?: string | undefined;
}

export interface RetentionDecision {
  readonly seq: number;
  readonly keep: boolean;
  /** Why it is kept: `newest`, `keep-all`, or rule texts like `all:24h`, `last:10`,
   * `label:30d`, `10m:7d@2024-05-01T10:10:00.000Z` (the bucket's start). Empty when dropped. */
  readonly reasons: string[];
}

export const KEEP_ALL_POLICY: RetentionPolicy = Object.freeze({ rules: Object.freeze([]) });

/** Parses a spec; INVALID_ARGUMENT with a one-line message naming the bad element. */
export function parseRetentionPolicy(spec: string): RetentionPolicy {
  if (typeof spec !== 'string') throw invalidArgument('retention spec must be a string');
  const text = spec.trim();
  if (text === '') return KEEP_ALL_POLICY;
  const rules: RetentionRule[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(',')) {
    const element = raw.trim();
    const rule = parseRule(element);
    const key = rule.kind === 'every' ? `every:${rule.intervalMs}` : rule.kind;
    if (seen.has(key)) throw invalidArgument(`retention: rule "${element}" repeats an earlier ${describeKey(rule)} rule`);
    seen.add(key);
    rules.push(rule);
  }
  return Object.freeze({ rules: Object.freeze(rules) });
}

function describeKey(rule: RetentionRule): string {
  return rule.kind === 'every' ? `${formatDuration(rule.intervalMs)}:` : `${rule.kind}:`;
}

function parseRule(element: string): RetentionRule {
  if (element === '') throw invalidArgument('retention: empty rule (stray comma?)');
  const colon = element.indexOf(':');
  if (colon < 0 || element.indexOf(':', colon + 1) >= 0) {
    throw invalidArgument(`retention: bad rule "${element.slice(0, 60)}": expected KIND:VALUE, e.g. all:24h, 10m:7d, last:10`);
  }
  const head = element.slice(0, colon);
  const value = element.slice(colon + 1);
  const ctx = `retention rule "${element.slice(0, 60)}"`;
  if (head === 'last') {
    if (!/^\d{1,9}$/.test(value) || Number(value) < 1) {
      throw invalidArgument(`${ctx}: last needs a count >= 1`);
    }
    return { kind: 'last', count: Number(value) };
  }
  const windowMs = parseWindow(value, ctx);
  if (head === 'all') return { kind: 'all', windowMs };
  if (head === 'label') return { kind: 'label', windowMs };
  const intervalMs = wrap(() => parseDuration(head), ctx);
  if (intervalMs <= 0) throw invalidArgument(`${ctx}: bucket interval must be > 0`);
  if (intervalMs > windowMs) {
    throw invalidArgument(`${ctx}: bucket interval ${head} is longer than its window ${value}`);
  }
  return { kind: 'every', intervalMs, windowMs };
}

function parseWindow(value: string, ctx: string): number {
  if (value === 'forever') return Number.POSITIVE_INFINITY;
  const ms = wrap(() => parseDuration(value), ctx);
  if (ms <= 0) throw invalidArgument(`${ctx}: window must be > 0`);
  return ms;
}

function wrap<T>(fn: () => T, ctx: string): T {
  try {
    return fn();
  } catch (err) {
    throw invalidArgument(`${ctx}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Canonical spec text of a policy (parseRetentionPolicy(format(p)) is equivalent to p). */
export function formatRetentionPolicy(policy: RetentionPolicy): string {
  return policy.rules.map(formatRule).join(',');
}

function formatRule(rule: RetentionRule): string {
  switch (rule.kind) {
    case 'all':
      return `all:${formatWindow(rule.windowMs)}`;
    case 'every':
      return `${formatDuration(rule.intervalMs)}:${formatWindow(rule.windowMs)}`;
    case 'last':
      return `last:${rule.count}`;
    case 'label':
      return `label:${formatWindow(rule.windowMs)}`;
  }
}

function formatWindow(ms: number): string {
  return ms === Number.POSITIVE_INFINITY ? 'forever' : formatDuration(ms);
}

/** Largest time a Date can represent: bucket starts are printed as ISO times. */
const MAX_TIME_MS = 8.64e15;

/**
 * Decides, for every point, whether the policy keeps it and why. Pure: `nowMs` comes from the
 * caller's Clock. Decisions come back in the order of `points`.
 */
export function planRetention(
  points: readonly RetentionPoint[],
  policy: RetentionPolicy,
  nowMs: number,
): RetentionDecision[] {
  if (!Number.isFinite(nowMs)) throw invalidArgument(`retention: now must be a finite time, got ${String(nowMs)}`);
  const seqs = new Set<number>();
  let newest = -1;
  for (const p of points) {
    if (!Number.isSafeInteger(p.seq) || p.seq < 0) throw invalidArgument(`retention: bad point seq ${String(p.seq)}`);
    if (!Number.isSafeInteger(p.timeMs) || p.timeMs < 0 || p.timeMs > MAX_TIME_MS) {
      throw invalidArgument(`retention: point ${p.seq} has a bad time ${String(p.timeMs)}`);
    }
    if (seqs.has(p.seq)) throw invalidArgument(`retention: duplicate point seq ${p.seq}`);
    seqs.add(p.seq);
    if (p.seq > newest) newest = p.seq;
  }
  const reasons = new Map<number, string[]>();
  for (const p of points) reasons.set(p.seq, []);
  const add = (seq: number, why: string): void => {
    reasons.get(seq)!.push(why);
  };
  const ageOf = (p: RetentionPoint): number => Math.max(0, nowMs - p.timeMs);

  if (points.length > 0) add(newest, 'newest');
  if (policy.rules.length === 0) for (const p of points) add(p.seq, 'keep-all');

  for (const rule of policy.rules) {
    const text = formatRule(rule);
    switch (rule.kind) {
      case 'all':
        for (const p of points) if (ageOf(p) < rule.windowMs) add(p.seq, text);
        break;
      case 'label':
        for (const p of points) {
          if (p.label !== undefined && p.label !== '' && ageOf(p) < rule.windowMs) add(p.seq, text);
        }
        break;
      case 'last': {
        const bySeq = points.map((p) => p.seq).sort((a, b) => b - a);
        for (const seq of bySeq.slice(0, rule.count)) add(seq, text);
        break;
      }
      case 'every': {
        // The bucket's winner is its highest seq; it is kept while its own age is inside the window.
        const winners = new Map<number, RetentionPoint>();
        for (const p of points) {
          const bucket = Math.floor(p.timeMs / rule.intervalMs);
          const cur = winners.get(bucket);
          if (cur === undefined || p.seq > cur.seq) winners.set(bucket, p);
        }
        for (const [bucket, p] of winners) {
          if (ageOf(p) < rule.windowMs) add(p.seq, `${text}@${new Date(bucket * rule.intervalMs).toISOString()}`);
        }
        break;
      }
    }
  }

  return points.map((p) => {
    const why = reasons.get(p.seq)!;
    return { seq: p.seq, keep: why.length > 0, reasons: why };
  });
}
