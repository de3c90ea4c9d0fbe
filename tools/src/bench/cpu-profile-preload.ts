import { renameSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

/**
 * Loaded into a child process with `NODE_OPTIONS=--import=<this file's URL>` (Node refuses
 * `--cpu-prof` in NODE_OPTIONS). The first SIGUSR2 starts sampling, the second stops it and
 * writes the profile to $HAVEN_CPU_PROFILE, so the profile covers just the span a benchmark
 * measures; a profile still running at exit is written then. The in-process inspector
 * answers synchronously, which is what makes writing inside the 'exit' handler possible.
 */
const out = process.env['HAVEN_CPU_PROFILE'];
if (out !== undefined && out !== '') {
  const session = new Session();
  session.connect();
  let state: 'idle' | 'running' | 'done' = 'idle';
  const stop = (): void => {
    if (state !== 'running') return;
    state = 'done';
    session.post('Profiler.stop', (err, res) => {
      if (err !== null) return;
      // Renamed into place, so a reader polling for the file never sees half of it.
      writeFileSync(`${out}.partial`, JSON.stringify(res.profile));
      renameSync(`${out}.partial`, out);
    });
  };
  process.on('SIGUSR2', () => {
    if (state === 'running') return stop();
    if (state !== 'idle') return;
    state = 'running';
    session.post('Profiler.enable');
    session.post('Profiler.start');
  });
  process.once('exit', stop);
}
