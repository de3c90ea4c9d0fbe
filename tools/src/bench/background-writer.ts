import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface BackgroundWriterReport {
  readonly writes: number;
  readonly seconds: number;
  readonly perSecond: number;
}

export interface BackgroundWriter {
  /** Stops after the write in progress; resolves with what was achieved. */
  stop(): Promise<BackgroundWriterReport>;
}

/**
 * Writes small files of fresh random content into `dir` at `perSecond`, on a schedule that
 * catches up when the event loop was late (so the rate holds on average). Names cycle over
 * `names` files: the first round creates them, later rounds overwrite, as logs and caches do.
 */
export function startBackgroundWriter(dir: string, options: { perSecond: number; names: number; minBytes: number; maxBytes: number }): BackgroundWriter {
  const started = performance.now();
  let writes = 0;
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    while (!stopped) {
      const due = started + (writes * 1000) / options.perSecond;
      const wait = due - performance.now();
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        if (stopped) break;
      }
      const size = options.minBytes + ((writes * 7919) % (options.maxBytes - options.minBytes + 1));
      await writeFile(join(dir, `l-${writes % options.names}.dat`), randomBytes(size));
      writes += 1;
    }
  })();
  return {
    async stop() {
      stopped = true;
      wake?.();
      await loop;
      const seconds = (performance.now() - started) / 1000;
      return { writes, seconds, perSecond: writes / seconds };
    },
  };
}
