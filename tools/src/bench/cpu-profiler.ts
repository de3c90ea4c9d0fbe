import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/** Samples this process's CPU (V8 profiler) until `stop`, which writes `<name>.cpuprofile`. */
export interface CpuProfile {
  stop(): Promise<string>;
}

/** Starts a profile when `dir` is given; otherwise a no-op whose stop() returns ''. */
export async function startCpuProfile(dir: string | undefined, name: string): Promise<CpuProfile> {
  if (dir === undefined) return { stop: () => Promise.resolve('') };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      const path = join(dir, `${name}.cpuprofile`);
      await writeFile(path, JSON.stringify(profile));
      return path;
    },
  };
}
