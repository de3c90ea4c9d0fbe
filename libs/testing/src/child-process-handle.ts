import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Every process any harness started, so one cleanup can always reach them all. */
const live = new Set<ChildProcess>();

function killAllSync(): void {
  for (const p of live) {
    try {
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.once('exit', killAllSync);

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** Lines printed so far on stdout and stderr (bounded ring, for failure messages). */
  output(): string;
  /** Resolves with the first stdout line that `match` accepts; rejects on exit or timeout. */
  waitForLine(match: (line: string) => boolean, timeoutMs: number): Promise<string>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals>;
}

const MAX_LINES = 400;

export function spawnNode(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnedProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  const watchers = new Set<(line: string) => void>();
  const push = (prefix: string, line: string): void => {
    lines.push(`${prefix}${line}`);
    if (lines.length > MAX_LINES) lines.shift();
  };
  createInterface({ input: child.stdout! }).on('line', (line) => {
    push('', line);
    for (const w of watchers) w(line);
  });
  createInterface({ input: child.stderr! }).on('line', (line) => push('! ', line));
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve(signal ?? code ?? 0);
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    exited,
    output: () => lines.join('\n'),
    waitForLine: (match, timeoutMs) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          watchers.delete(watch);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for output from ${script}\n${lines.join('\n')}`));
        }, timeoutMs);
        const watch = (line: string): void => {
          if (!match(line)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          resolve(line);
        };
        watchers.add(watch);
        void exited.then((how) => {
          if (!watchers.has(watch)) return;
          clearTimeout(timer);
          watchers.delete(watch);
          reject(new Error(`${script} exited (${String(how)}) before it was ready\n${lines.join('\n')}`));
        });
      }),
    kill: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs a command to completion and returns its exit code and output. */
export async function runNode(
  script: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.end(options.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const code = await new Promise<number>((resolve) => {
    child.once('exit', (c, signal) => resolve(c ?? (signal === null ? 0 : 128)));
  });
  clearTimeout(timer);
  live.delete(child);
  return { code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}
