import { create } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { parsePointSpec } from '@haven/core';
import { PointSelectorSchema } from '@haven/proto';
import type { PointSelector } from '@haven/proto';

/**
 * POINT (`--at`) as the Admin API's PointSelector: a seq, an RFC 3339 time, or `latest`;
 * no `--at` leaves the selector unset, which the API also reads as latest. Times keep their
 * full fraction: a point's commit time copied from a listing must select that point, not the
 * one before it.
 */
export function pointSelectorOf(text: string | undefined, branch?: string): PointSelector | undefined {
  if (text === undefined && (branch === undefined || branch === '')) return undefined;
  const spec = parsePointSpec(text ?? 'latest');
  const selector = create(PointSelectorSchema, { branch: branch ?? '' });
  if (spec.kind === 'latest') {
    selector.point = { case: 'latest', value: true };
  } else if (spec.kind === 'seq') {
    selector.point = { case: 'seq', value: BigInt(spec.seq) };
  } else {
    const ts = timestampFromMs(Math.floor(spec.timeMs / 1000) * 1000);
    ts.nanos = nanosOf(text ?? '', spec.timeMs);
    selector.point = { case: 'time', value: ts };
  }
  return selector;
}

/** Nanoseconds within the second: from the written fraction when there is one. */
function nanosOf(text: string, timeMs: number): number {
  const fraction = /:\d{2}\.(\d{1,9})/.exec(text)?.[1];
  if (fraction === undefined) return (((timeMs % 1000) + 1000) % 1000) * 1e6;
  return Number(fraction.padEnd(9, '0'));
}
