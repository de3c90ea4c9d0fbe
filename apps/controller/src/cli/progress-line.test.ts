import { describe, expect, it } from 'vitest';
import { createManualClock } from '@haven/core';
import { PLAIN_PROGRESS_INTERVAL_MS, createProgressLine } from './progress-line.js';
import { createTestIo } from './test-support/admin-stub.js';

describe('progress line', () => {
  it('without a terminal prints on status changes and periodically, then the final status', () => {
    const io = createTestIo({});
    const clock = createManualClock(0);
    const line = createProgressLine(io, clock);
    line.update('job RUNNING 10%', 'RUNNING');
    clock.advance(1_000);
    line.update('job RUNNING 20%', 'RUNNING');
    line.update('job RUNNING 30% verifying', 'RUNNING:verifying');
    clock.advance(PLAIN_PROGRESS_INTERVAL_MS);
    line.update('job RUNNING 90% verifying', 'RUNNING:verifying');
    line.update('job RUNNING 95% verifying', 'RUNNING:verifying');
    line.done('job SUCCEEDED');
    expect(io.err()).toBe(['job RUNNING 10%', 'job RUNNING 30% verifying', 'job RUNNING 90% verifying', 'job SUCCEEDED', ''].join('\n'));
  });

  it('on a terminal rewrites one line and ends it', () => {
    const io = createTestIo({});
    Object.assign(io.stderr, { isTTY: true, columns: 40 });
    const clock = createManualClock(0);
    const line = createProgressLine(io, clock);
    line.update('restoring: 1 entries', 'running');
    clock.advance(500);
    line.update('restoring: 2 entries', 'running');
    line.done();
    expect(io.err()).toBe('\r\x1b[2Krestoring: 1 entries\r\x1b[2Krestoring: 2 entries\n');
  });
});
