import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/*
 * Runs a module against the TypeScript sources in a real child process (so tests can
 * SIGKILL it). A loader hook transpiles .ts with the repo's own TypeScript and maps the
 * `.js` suffix of relative imports to `.ts`; workspace packages resolve to their sources
 * through the `haven-source` condition.
 */

const LOADER = (typescriptUrl: string): string => `
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from ${JSON.stringify(typescriptUrl)};
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (err) {
    if (specifier.endsWith('.js') && (specifier.startsWith('.') || specifier.startsWith('file:'))) {
      return next(specifier.slice(0, -3) + '.ts', context);
    }
    throw err;
  }
}
export async function load(url, context, next) {
  if (!url.endsWith('.ts')) return next(url, context);
  const fileName = fileURLToPath(url);
  const out = ts.transpileModule(await readFile(fileName, 'utf8'), {
    fileName,
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
  });
  return { format: 'module', source: out.outputText, shortCircuit: true };
}
`;

/**
 * Writes `source` (an ES module; import .ts files by file URL) into `dir` and starts it,
 * optionally as another user or through a wrapper command.
 */
export function spawnTsChild(
  dir: string,
  source: string,
  args: readonly string[] = [],
  how: { uid?: number; gid?: number; via?: readonly string[] } = {},
): ChildProcess {
  const require = createRequire(import.meta.url);
  const loader = join(dir, 'ts-loader.mjs');
  const register = join(dir, 'ts-register.mjs');
  const main = join(dir, 'child-main.mjs');
  writeFileSync(loader, LOADER(pathToFileURL(require.resolve('typescript')).href));
  writeFileSync(
    register,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(loader).href)});\n`,
  );
  writeFileSync(main, source);
  const node = [process.execPath, '--conditions=haven-source', '--import', pathToFileURL(register).href, main, ...args];
  // `via` runs node through a wrapper command (e.g. unshare) that ends by exec'ing its arguments.
  const [cmd, ...rest] = [...(how.via ?? []), ...node] as [string, ...string[]];
  return spawn(cmd, rest, {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(how.uid !== undefined ? { uid: how.uid } : {}),
    ...(how.gid !== undefined ? { gid: how.gid } : {}),
  });
}

/** Resolves with the child's first stdout line; rejects if it exits first. */
export function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code, signal) => reject(new Error(`child exited (${code ?? signal}) before output: ${err}`)));
  });
}

export function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
