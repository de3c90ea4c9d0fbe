import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HavenError } from '@haven/core';

/** The repository root, found from this file whether it runs from src/ or dist/. */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Compiled entry points of the three executables (built by `npm run build`). */
export const bins = {
  controller: join(repoRoot, 'apps/controller/dist/bin/haven-controller.js'),
  cli: join(repoRoot, 'apps/controller/dist/bin/haven.js'),
  agent: join(repoRoot, 'apps/agent/dist/bin/haven-agent.js'),
} as const;

export function requireBuilt(path: string): string {
  if (!existsSync(path)) {
    throw new HavenError('FAILED_PRECONDITION', `${path} is missing: run \`npm run build\` first`);
  }
  return path;
}
