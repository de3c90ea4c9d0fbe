import { SPECIAL_FRAMES, sumProfileBy } from './cpu-profile.js';
import type { BenchTable } from './bench-section.js';
import { round } from './measure.js';

/** Sampled main-thread time of one process by the code that spent it (ms). */
export interface PackageSummary {
  readonly totalMs: number;
  readonly byPackage: Record<string, number>;
}

/**
 * The package (node_modules/<name>), workspace project (apps/agent, libs/core, ...) or Node
 * module (node:fs, ...) a script belongs to. Coarser than functions, finer than the
 * categories of cpu-profile-summary.ts: it names third-party code such as @grpc/grpc-js, which
 * a category table folds into "other JS".
 */
export function packageOf(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? url);
  }
  if (url.endsWith('/cpu-profile-preload.js')) return 'profiler (its own overhead)';
  const ws = /\/(apps|libs)\/([^/]+)\/(?:dist|src)\/([^/]+)/.exec(url);
  if (ws !== null) return `${ws[1]}/${ws[2]}${ws[3]?.endsWith('.js') === true ? '' : `/${ws[3]}`}`;
  if (url.startsWith('node:internal/')) return url.split('/').slice(0, 2).join('/');
  return url;
}

/**
 * Native frames (no URL) and Node's own modules count for the nearest caller outside Node,
 * so an lstat a directory walker issues is charged to the walker; a stack with no such
 * caller keeps the Node module's name.
 */
export async function summarizeByPackage(path: string): Promise<PackageSummary> {
  const { totalMs, by } = await sumProfileBy(path, (stack) => {
    let nodeModule: string | undefined;
    for (const n of stack) {
      const { url, functionName } = n.callFrame;
      const special = SPECIAL_FRAMES[functionName];
      if (url === '' && special !== undefined && nodeModule === undefined) return special;
      if (url.startsWith('node:')) nodeModule ??= packageOf(url);
      else if (url !== '') return packageOf(url);
    }
    return nodeModule ?? 'V8/native (unattributed)';
  });
  return { totalMs, byPackage: by };
}

/** One column per process, the `top` busiest packages over all of them, then idle. */
export async function packageTable(title: string, profiles: ReadonlyArray<{ name: string; path: string | undefined }>, top = 12): Promise<BenchTable> {
  const sums = await Promise.all(profiles.map(async (p) => (p.path === undefined ? undefined : summarizeByPackage(p.path))));
  const ms = (s: PackageSummary | undefined, k: string): number => s?.byPackage[k] ?? 0;
  const names = [...new Set(sums.flatMap((s) => Object.keys(s?.byPackage ?? {})))].filter((k) => k !== 'idle');
  names.sort((a, b) => sums.reduce((n, s) => n + ms(s, b), 0) - sums.reduce((n, s) => n + ms(s, a), 0));
  const cell = (s: PackageSummary | undefined, k: string): string => (s === undefined ? 'n/a' : `${Math.round(ms(s, k))} ms (${round((100 * ms(s, k)) / s.totalMs, 1)}%)`);
  return {
    title,
    headers: ['code (self time; natives and node: modules charged to their caller)', ...profiles.map((p) => p.name)],
    rows: [...names.slice(0, top).map((k) => [k, ...sums.map((s) => cell(s, k))]), ['idle (waiting)', ...sums.map((s) => cell(s, 'idle'))]],
    notes: [`profiles: ${profiles.map((p) => p.path ?? `(${p.name} profile missing)`).join(', ')}`],
  };
}
