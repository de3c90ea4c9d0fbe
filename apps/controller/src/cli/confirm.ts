import { createInterface } from 'node:readline';
import { HavenError } from '@haven/core';
import type { CliIo } from './cli-io.js';
import { write } from './output.js';

/**
 * Guards an action that moves or deletes a set: `--yes`, or typing the set's name at a
 * terminal. Without a terminal and without `--yes` it refuses, so a script can never
 * trigger it by accident (or by piping "yes").
 */
export async function confirmByName(
  io: CliIo,
  options: { yes: boolean; name: string; /** e.g. "fail over set www" */ action: string; /** What will happen, one sentence. */ warning: string },
): Promise<void> {
  if (options.yes) return;
  if (io.stdin.isTTY !== true) {
    throw new HavenError('FAILED_PRECONDITION', `refusing to ${options.action} without confirmation: pass --yes (stdin is not a terminal)`);
  }
  await write(io.stderr, `${options.warning}\nType the set name (${options.name}) to confirm: `);
  const answer = await readLine(io);
  if (answer?.trim() !== options.name) {
    throw new HavenError('CANCELLED', 'not confirmed; nothing was done');
  }
}

async function readLine(io: CliIo): Promise<string | undefined> {
  const rl = createInterface({ input: io.stdin, terminal: false });
  try {
    for await (const line of rl) return line;
    return undefined;
  } finally {
    rl.close();
  }
}
