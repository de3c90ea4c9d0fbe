import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// These tests write real source files into the projects and lint them with the
// repository's own ESLint config, proving that a forbidden import fails `npm test`.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const tag = randomBytes(4).toString('hex');
const created: string[] = [];

function fixture(relDir: string, name: string, source: string): string {
  const file = join(root, relDir, `lint-fixture-${tag}-${name}.ts`);
  writeFileSync(file, source);
  created.push(file);
  return file;
}

async function ruleIdsFor(file: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: root });
  const [result] = await eslint.lintFiles([file]);
  return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => m.ruleId ?? 'fatal');
}

beforeAll(() => {
  // @nx/enforce-module-boundaries reads the cached project graph; compute it first.
  execFileSync(process.execPath, [join(root, 'node_modules/nx/dist/bin/nx.js'), 'show', 'projects'], {
    cwd: root,
    env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true' },
    stdio: 'ignore',
  });
});

afterAll(() => {
  for (const f of created) rmSync(f, { force: true });
});

describe('module boundaries', () => {
  it('accepts an allowed import (app -> core)', async () => {
    const f = fixture('apps/agent/src', 'ok', `import { HavenError } from '@haven/core';\nexport const e = HavenError;\n`);
    expect(await ruleIdsFor(f)).toEqual([]);
  });

  it('rejects node:fs in libs/core', async () => {
    const f = fixture('libs/core/src', 'fs', `import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n`);
    expect(await ruleIdsFor(f)).toContain('no-restricted-imports');
  });

  it('rejects better-sqlite3 and grpc in libs/core', async () => {
    const f = fixture(
      'libs/core/src',
      'io',
      `import Database from 'better-sqlite3';\nimport { Server } from '@grpc/grpc-js';\nexport const d = [Database, Server];\n`,
    );
    const ids = await ruleIdsFor(f);
    expect(ids.filter((id) => id === 'no-restricted-imports').length).toBe(2);
  });

  it('rejects libs/proto importing another project', async () => {
    const f = fixture('libs/proto/src', 'core', `import { HavenError } from '@haven/core';\nexport const e = HavenError;\n`);
    expect(await ruleIdsFor(f)).toContain('@nx/enforce-module-boundaries');
  });

  it('rejects an app importing an app', async () => {
    const f = fixture('apps/agent/src', 'app', `import * as c from '@haven/controller';\nexport const x = c;\n`);
    expect(await ruleIdsFor(f)).toContain('@nx/enforce-module-boundaries');
  });

  it('rejects a deep import into another project', async () => {
    const f = fixture('apps/agent/src', 'deep', `import { HavenError } from '@haven/core/src/errors.js';\nexport const e = HavenError;\n`);
    expect(await ruleIdsFor(f)).toContain('no-restricted-imports');
  });

  it('rejects an import cycle', async () => {
    const a = fixture('libs/core/src', 'cycle-a', `import { b } from './lint-fixture-${tag}-cycle-b.js';\nexport const a = (): number => b() + 1;\n`);
    fixture('libs/core/src', 'cycle-b', `import { a } from './lint-fixture-${tag}-cycle-a.js';\nexport const b = (): number => a() - 1;\n`);
    expect(await ruleIdsFor(a)).toContain('import-x/no-cycle');
  });
});
