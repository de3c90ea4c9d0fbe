import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Compiled next to this file; see cpu-profile-preload.ts. */
const PRELOAD = new URL('./cpu-profile-preload.js', import.meta.url).href;

/** Profiles a child process over a span: env for its start, then start() and stop() around the span. */
export interface ChildProfiler {
  /** Environment to start the child with (empty when not profiling). */
  readonly env: NodeJS.ProcessEnv;
  readonly path: string | undefined;
  start(pid: number): Promise<void>;
  /** Resolves with the profile's path once written, or undefined when not profiling. */
  stop(pid: number): Promise<string | undefined>;
}

export function createChildProfiler(dir: string | undefined, name: string): ChildProfiler {
  if (dir === undefined) {
    return { env: {}, path: undefined, start: () => Promise.resolve(), stop: () => Promise.resolve(undefined) };
  }
  const path = join(dir, `${name}.cpuprofile`);
  return {
    env: { NODE_OPTIONS: `--import=${PRELOAD}`, HAVEN_CPU_PROFILE: path },
    path,
    async start(pid) {
      rmSync(path, { force: true });
      process.kill(pid, 'SIGUSR2');
      // Signals are handled on the child's next event-loop turn; it is idle here.
      await sleep(100);
    },
    async stop(pid) {
      process.kill(pid, 'SIGUSR2');
      for (let i = 0; i < 100 && !existsSync(path); i++) await sleep(50);
      return existsSync(path) ? path : undefined;
    },
  };
}
