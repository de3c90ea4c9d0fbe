import { describe, expect, it } from 'vitest';
import { HavenError } from './errors.js';
import { KEEP_ALL_POLICY, formatRetentionPolicy, parseRetentionPolicy, planRetention } from './retention.js';
import type { RetentionPoint } from './retention.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;
const D = 24 * H;
const NOW = Date.UTC(2024, 4, 15, 0, 0, 0);

function kept(points: RetentionPoint[], spec: string, now = NOW): number[] {
  return planRetention(points, parseRetentionPolicy(spec), now)
    .filter((d) => d.keep)
    .map((d) => d.seq);
}

/** Points `agesMs` old, seq increasing with time (the oldest gets seq 1). */
function aged(...agesMs: number[]): RetentionPoint[] {
  const sorted = [...agesMs].sort((a, b) => b - a);
  return sorted.map((age, i) => ({ seq: i + 1, timeMs: NOW - age }));
}

describe('parseRetentionPolicy', () => {
  it.each([
    ['', ''],
    ['   ', ''],
    ['all:24h,10m:7d,1h:30d,1d:365d', 'all:1d,10m:7d,1h:30d,1d:365d'],
    [' all:24h , last:10 ', 'all:1d,last:10'],
    ['label:30d,1d:forever,all:90m', 'label:30d,1d:forever,all:90m'],
    ['1h30m:1w', '90m:7d'],
    ['label:forever', 'label:forever'],
  ])('%j parses (canonical %j)', (spec, canonical) => {
    const policy = parseRetentionPolicy(spec);
    expect(formatRetentionPolicy(policy)).toBe(canonical);
    expect(parseRetentionPolicy(formatRetentionPolicy(policy))).toEqual(policy);
  });

  it('parses rules into their fields', () => {
    expect(parseRetentionPolicy('all:24h,10m:7d,last:3,label:forever').rules).toEqual([
      { kind: 'all', windowMs: D },
      { kind: 'every', intervalMs: 10 * MIN, windowMs: 7 * D },
      { kind: 'last', count: 3 },
      { kind: 'label', windowMs: Number.POSITIVE_INFINITY },
    ]);
    expect(parseRetentionPolicy('')).toBe(KEEP_ALL_POLICY);
  });

  it.each([
    ['all', 'expected KIND:VALUE'],
    ['all:', 'duration is empty'],
    ['all:24', 'expected <integer><unit>'],
    ['all:24x', 'expected <integer><unit>'],
    ['all:0h', 'window must be > 0'],
    ['all:24H', 'expected <integer><unit>'],
    ['a:b:c', 'expected KIND:VALUE'],
    ['last:0', 'count >= 1'],
    ['last:-1', 'count >= 1'],
    ['last:ten', 'count >= 1'],
    ['last:10d', 'count >= 1'],
    ['foo:1d', 'expected <integer><unit>'],
    ['forever:1d', 'expected <integer><unit>'],
    ['0m:1d', 'bucket interval must be > 0'],
    ['1d:1h', 'longer than its window'],
    ['all:24h,', 'empty rule'],
    [',', 'empty rule'],
    ['all:24h,all:48h', 'repeats an earlier all: rule'],
    ['10m:7d,600s:30d', 'repeats an earlier 10m: rule'],
    ['last:1,last:2', 'repeats'],
  ])('rejects %j', (spec, message) => {
    let err: unknown;
    try {
      parseRetentionPolicy(spec);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HavenError);
    expect((err as HavenError).code).toBe('INVALID_ARGUMENT');
    expect((err as HavenError).message).toContain(message);
    expect((err as HavenError).message).not.toContain('\n');
  });
});

describe('planRetention', () => {
  it('keeps everything under the empty policy, and returns nothing for no points', () => {
    const points = aged(1 * H, 400 * D, 2 * D);
    const plan = planRetention(points, KEEP_ALL_POLICY, NOW);
    expect(plan.every((d) => d.keep && d.reasons.includes('keep-all'))).toBe(true);
    expect(planRetention([], parseRetentionPolicy('all:1h'), NOW)).toEqual([]);
  });

  it('always keeps the newest point (highest seq), even outside every window', () => {
    const points = aged(10 * D, 20 * D, 30 * D);
    const plan = planRetention(points, parseRetentionPolicy('all:1h'), NOW);
    expect(plan.filter((d) => d.keep)).toEqual([{ seq: 3, keep: true, reasons: ['newest'] }]);
  });

  it('answers in input order with reasons, dropped points with none', () => {
    const points: RetentionPoint[] = [
      { seq: 7, timeMs: NOW - 2 * H },
      { seq: 3, timeMs: NOW - 3 * D },
      { seq: 9, timeMs: NOW - 1 * H },
    ];
    expect(planRetention(points, parseRetentionPolicy('all:24h'), NOW)).toEqual([
      { seq: 7, keep: true, reasons: ['all:1d'] },
      { seq: 3, keep: false, reasons: [] },
      { seq: 9, keep: true, reasons: ['newest', 'all:1d'] },
    ]);
  });

  it.each([
    ['all:24h', 24 * H - 1, true],
    ['all:24h', 24 * H, false],
    ['all:24h', 24 * H + 1, false],
    ['label:30d', 30 * D - 1, true],
    ['label:30d', 30 * D, false],
    ['10m:7d', 7 * D - 1, true],
    ['10m:7d', 7 * D, false],
  ])('%s at age %d ms -> kept %s (windows are strict: "younger than")', (spec, age, keep) => {
    const points: RetentionPoint[] = [
      { seq: 1, timeMs: NOW - age, label: 'pre-upgrade' },
      { seq: 2, timeMs: NOW },
    ];
    expect(kept(points, spec).includes(1)).toBe(keep);
  });

  it('keeps the newest point of each epoch-aligned bucket', () => {
    const base = Date.UTC(2024, 4, 10, 12, 0, 0); // 4.5 days before NOW: outside any all: window
    const points: RetentionPoint[] = [
      { seq: 1, timeMs: base + 0 * MIN }, // bucket 12:00
      { seq: 2, timeMs: base + 5 * MIN },
      { seq: 3, timeMs: base + 10 * MIN - 1 }, // still 12:00 -> wins it
      { seq: 4, timeMs: base + 10 * MIN }, // bucket 12:10, alone
      { seq: 5, timeMs: base + 25 * MIN }, // bucket 12:20
      { seq: 6, timeMs: NOW },
    ];
    const plan = planRetention(points, parseRetentionPolicy('10m:7d'), NOW);
    expect(plan.filter((d) => d.keep).map((d) => d.seq)).toEqual([3, 4, 5, 6]);
    expect(plan[2]!.reasons).toEqual(['10m:7d@2024-05-10T12:00:00.000Z']);
    expect(plan[3]!.reasons).toEqual(['10m:7d@2024-05-10T12:10:00.000Z']);
  });

  it('picks the highest seq of a bucket even when the clock stepped back', () => {
    const base = Date.UTC(2024, 4, 10, 12, 0, 0);
    const points: RetentionPoint[] = [
      { seq: 10, timeMs: base + 8 * MIN },
      { seq: 11, timeMs: base + 2 * MIN },
      { seq: 12, timeMs: NOW },
    ];
    expect(kept(points, '10m:7d')).toEqual([11, 12]);
  });

  it('keeps the last N by seq', () => {
    const points = aged(1 * D, 2 * D, 3 * D, 4 * D, 5 * D);
    expect(kept(points, 'last:3')).toEqual([3, 4, 5]);
    expect(kept(points, 'last:100')).toEqual([1, 2, 3, 4, 5]);
  });

  it('treats labeled points specially only with a label: rule', () => {
    const points: RetentionPoint[] = [
      { seq: 1, timeMs: NOW - 40 * D, label: 'old' },
      { seq: 2, timeMs: NOW - 20 * D, label: 'pre-upgrade' },
      { seq: 3, timeMs: NOW - 20 * D + 1 },
      { seq: 4, timeMs: NOW - 10 * D, label: '' },
      { seq: 5, timeMs: NOW },
    ];
    expect(kept(points, 'all:1h')).toEqual([5]);
    expect(kept(points, 'all:1h,label:30d')).toEqual([2, 5]);
    expect(kept(points, 'label:forever')).toEqual([1, 2, 5]);
  });

  it('counts a future point as age 0', () => {
    const points: RetentionPoint[] = [
      { seq: 1, timeMs: NOW + 5 * MIN },
      { seq: 2, timeMs: NOW - 2 * D },
      { seq: 3, timeMs: NOW - 3 * D },
    ];
    expect(kept(points, 'all:1h')).toEqual([1, 3]);
  });

  it('applies a tiered policy to 40 days of 5-minute points', () => {
    // Point k is k*5 minutes old (k = 1 .. 11520), seq grows with time; NOW is midnight UTC.
    const n = 40 * 288;
    const points: RetentionPoint[] = [];
    for (let k = n; k >= 1; k--) points.push({ seq: n - k + 1, timeMs: NOW - k * 5 * MIN });
    const plan = planRetention(points, parseRetentionPolicy('all:24h,10m:7d,1h:30d,1d:365d'), NOW);
    const keptAges = new Set(plan.filter((d) => d.keep).map((d) => n - d.seq + 1));
    const expected = new Set<number>();
    for (let k = 1; k < 288; k++) expected.add(k); // all:24h -> younger than 24h
    for (let k = 1; k * 5 < 7 * 1440; k += 2) expected.add(k); // newest of each 10 min: odd k
    for (let k = 1; k * 5 < 30 * 1440; k += 12) expected.add(k); // newest of each hour
    for (let k = 1; k <= n; k += 288) expected.add(k); // newest of each day
    expect([...keptAges].sort((a, b) => a - b)).toEqual([...expected].sort((a, b) => a - b));
    expect(keptAges.size).toBe(287 + (1008 - 144) + (720 - 168) + (40 - 30));
  });

  it.each([
    [[{ seq: 1, timeMs: NOW }, { seq: 1, timeMs: NOW }], 'duplicate point seq 1'],
    [[{ seq: -1, timeMs: NOW }], 'bad point seq'],
    [[{ seq: 1.5, timeMs: NOW }], 'bad point seq'],
    [[{ seq: 1, timeMs: Number.NaN }], 'bad time'],
    [[{ seq: 1, timeMs: -5 }], 'bad time'],
    [[{ seq: 1, timeMs: 9e15 }], 'bad time'],
  ])('rejects bad points %#', (points, message) => {
    expect(() => planRetention(points, KEEP_ALL_POLICY, NOW)).toThrow(message);
    expect(() => planRetention(points, KEEP_ALL_POLICY, NOW)).toThrow(HavenError);
  });

  it('rejects a non-finite now', () => {
    expect(() => planRetention([], KEEP_ALL_POLICY, Number.NaN)).toThrow(HavenError);
  });
});
