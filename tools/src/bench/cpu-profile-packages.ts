import { readFile } from 'node:fs/promises';
import type { BenchTable } from './bench-section.js';
import { round } from './measure.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Sampled main-thread time of one process by the code that spent it (ms). */
export interface PackageSummary {
  readonly totalMs: number;
  readonly byPackage: Record<string, number>;
}

const SPECIAL: Record<string, string> = {
  '(garbage collector)': 'GC',
  '(idle)': 'idle',
  '(program)': 'V8/native (unattributed)',
  '(root)': 'V8/native (unattributed)',
};

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
  const profile = JSON.parse(await readFile(path, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const resolve = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    let out: string | undefined;
    let nodeModule: string | undefined;
    for (let cur: number | undefined = id; cur !== undefined && out === undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (n === undefined) break;
      const { url, functionName } = n.callFrame;
      const special = SPECIAL[functionName];
      if (url === '' && special !== undefined && nodeModule === undefined) out = special;
      else if (url.startsWith('node:')) nodeModule ??= packageOf(url);
      else if (url !== '') out = packageOf(url);
    }
    const resolved = out ?? nodeModule ?? 'V8/native (unattributed)';
    memo.set(id, resolved);
    return resolved;
  };
  const byPackage: Record<string, number> = {};
  let totalMs = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    totalMs += ms;
    const p = resolve(id);
    byPackage[p] = (byPackage[p] ?? 0) + ms;
  });
  return { totalMs, byPackage };
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
