import type { Clock } from '@haven/core';
import type { CliIo } from './cli-io.js';

/** How often an unchanged status is repeated when stderr is not a terminal (logs, CI). */
export const PLAIN_PROGRESS_INTERVAL_MS = 10_000;
/** Terminal redraws at most this often: a restore of many small files reports per entry. */
const TTY_PROGRESS_INTERVAL_MS = 100;

/**
 * Progress on stderr: on a terminal one line rewritten in place; otherwise a new line when
 * the status `key` changes (state, phase), and while it does not, every
 * PLAIN_PROGRESS_INTERVAL_MS.
 */
export interface ProgressLine {
  update(text: string, key: string): void;
  /** Shows the final status (default: the last one given) unless it is already shown; ends the line. */
  done(text?: string): void;
}

export function createProgressLine(io: CliIo, clock: Clock): ProgressLine {
  const tty = io.stderr.isTTY === true;
  const reported = (io.stderr as { columns?: number }).columns ?? 0;
  // Longer lines would wrap and defeat the rewrite in place.
  const width = reported > 20 ? reported - 1 : 119;
  let lastKey: string | undefined;
  let lastAt = -Infinity;
  let latest = '';
  let printed = '';
  const show = (text: string, end: string): void => {
    io.stderr.write(tty ? `\r\x1b[2K${text.slice(0, width)}${end}` : `${text}\n`);
    printed = text;
  };
  return {
    update(text, key) {
      latest = text;
      const now = clock.now();
      if (key === lastKey && now - lastAt < (tty ? TTY_PROGRESS_INTERVAL_MS : PLAIN_PROGRESS_INTERVAL_MS)) return;
      lastKey = key;
      lastAt = now;
      show(text, '');
    },
    done(text = latest) {
      if (text === '') return;
      if (text !== printed) show(text, '\n');
      else if (tty) io.stderr.write('\n');
    },
  };
}
